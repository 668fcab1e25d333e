import type { Config } from '../config/load.ts';
import type { Db, Tx } from '../db/database.ts';
import { UsageError } from './usage-error.ts';

/** `--link-hours H`, else SIGN_IN_LINK_TTL_HOURS. */
export function linkHours(args: Record<string, unknown>, config: Config): number {
  const raw = args['link-hours'];
  if (raw === undefined) return config.SIGN_IN_LINK_TTL_HOURS;
  const hours = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(hours) || hours < 1 || hours > 720) {
    throw new UsageError('--link-hours must be a whole number of hours from 1 to 720');
  }
  return hours;
}

/** A link as the commands print it (`--json`): the URL is shown once, only its hash is stored. */
export interface PrintedLink {
  url: string;
  email: string;
  expiresAt: string;
}

/** Issues a sign-in link for a user from the command line and records it as a security event. */
export async function issueLinkFromCli(db: Db | Tx, params: { config: Config; userId: string; hours: number; command: string }): Promise<PrintedLink> {
  // Imported when a link is issued, not with the command definitions (help loads no database code).
  const [{ issueSignInLink, signInLinkUrl }, { recordSecurityEvent }] = await Promise.all([
    import('../auth/sign-in-links.ts'),
    import('../security/events.ts'),
  ]);
  const link = await issueSignInLink(db, { userId: params.userId, ttlHours: params.hours, createdBy: `command line: ${params.command}` });
  await recordSecurityEvent(db, {
    organizationId: link.organizationId,
    userId: params.userId,
    kind: 'sign_in_link_issued',
    outcome: 'success',
    method: 'command_line',
    details: { linkId: link.id, expiresAt: link.expiresAt.toISOString(), command: params.command },
  });
  return { url: signInLinkUrl(params.config.PUBLIC_BASE_URL, link.token), email: link.email, expiresAt: link.expiresAt.toISOString() };
}

/** The human-readable lines for a printed link. */
export function describeLink(link: PrintedLink): string[] {
  return [
    `sign-in link for ${link.email} (single use, expires ${link.expiresAt}; shown once):`,
    `  ${link.url}`,
    '  Open it in a browser and sign in with the account of that e-mail address; that sign-in is linked to the user.',
  ];
}
