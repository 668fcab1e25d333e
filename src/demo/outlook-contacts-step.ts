import { startSmtpCapture } from '../../sandbox/smtp.ts';
import { loadCursor } from '../sync/pull.ts';
import { type ActingUser, actAs, DemoApiError, SAMPLE_ADMIN_EMAIL, waitFor } from './as-user.ts';
import { type DemoContext, type DemoStep, envValue } from './context.ts';

/**
 * Outlook contacts against the sandbox's Microsoft emulator, as a user would do it through the API:
 * connect alice's Outlook address book (`contacts.import` with its attestation, and `contacts.invite`),
 * wait for the first import on the in-process workers, then invite one imported contact. The
 * invitation e-mail goes through SMTP to the demo's own mail capture (`smtp-server` on loopback,
 * started by {@link mailCaptureStep} unless SMTP_URL is set), and the summary prints what arrived.
 *
 * Across runs (the database persists, the sandbox does not): alice's earlier Outlook connections are
 * disconnected first (their tokens belong to a sandbox that is gone), and the contact invited is one
 * whose address the organization has not invited or seen opt out yet.
 */

const PLATFORM = 'outlook_contacts';
const ATTESTATION = 'I have the legal right to import these contacts';
const IMPORT_TIMEOUT_MS = 120_000;

/** Before the configuration is loaded: an SMTP capture on loopback for the invitation e-mails, unless SMTP_URL is set. */
export const mailCaptureStep: DemoStep = {
  name: 'mail-capture',
  async run(ctx) {
    if (envValue(ctx, 'SMTP_URL') || !ctx.sandbox?.startedByDemo) return;
    const capture = await startSmtpCapture({ port: 0 });
    ctx.cleanups.push(() => capture.close());
    ctx.env.SMTP_URL = capture.url;
    ctx.mail = { url: capture.url, messages: () => capture.messages };
  },
};

interface ContactView {
  id: string;
  name: string;
  emails: string[];
  member: boolean;
  invitedAt: string | null;
}

export const outlookContactsStep: DemoStep = {
  name: 'outlook-contacts',
  async run(ctx) {
    const heading = 'Outlook contacts (sandbox)';
    if (!ctx.sandbox) {
      ctx.print(
        'Outlook contacts',
        'not connected by the demo: with real Microsoft a person grants access. Sign in, then POST /v1/connections ' +
          `{"platform":"${PLATFORM}","categories":["contacts.import"],"attestations":{"contacts.import":"${ATTESTATION}"}} and open the authorizationUrl.`,
      );
      return;
    }
    const org = ctx.seed!.organizations[0]!;
    const alice = await actAs(ctx, { organizationId: org.id, email: SAMPLE_ADMIN_EMAIL });
    try {
      const started = Date.now();
      const replaced = await disconnectEarlier(alice);
      const connectionId = await connect(alice);
      ctx.progress(`Outlook contacts: ${alice.email}'s address book connected; importing…`);
      await waitFor('the first import', async () => ((await loadCursor(ctx.services!.db, connectionId))?.kind === 'delta' ? true : undefined), {
        timeoutMs: IMPORT_TIMEOUT_MS,
        intervalMs: 300,
      });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const { db } = ctx.services!;
      const imported = Number(
        (
          await db
            .selectFrom('imported_contacts')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('connection_id', '=', connectionId)
            .executeTakeFirstOrThrow()
        ).n,
      );
      const graph = await graphRequests(ctx, alice.email, started);
      const base = ctx.config!.PUBLIC_BASE_URL;
      const lines = [
        `${alice.email}: connection ${connectionId} (new${replaced ? `; ${replaced} earlier connection(s) disconnected` : ''})`,
        `imported ${imported} contacts in ${seconds} s with ${graph} Graph requests (delta per folder, $select of name, e-mail, company, job title, phones only)`,
      ];
      const invitation = await inviteOne(ctx, alice, connectionId);
      if (invitation) {
        lines.push(`invited ${invitation.email} (${invitation.channel}): ${invitation.subject}`);
        if (invitation.captured) lines.push(`  the e-mail arrived at the demo's mail capture (${ctx.mail!.url}); accept link ${invitation.link}`);
      } else {
        lines.push('no contact left to invite (every address was invited within the last days or opted out)');
      }
      lines.push(
        `look at (signed in as ${alice.email}):`,
        `  ${base}/v1/imported-contacts?connectionId=${connectionId}`,
        `  ${base}/v1/invitations`,
        `  ${base}/v1/transfers?connectionId=${connectionId}&purpose=contact_invitation`,
        `  ${ctx.sandbox.url}/_sandbox/ledger?provider=microsoft`,
      );
      ctx.print(heading, ...lines);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.progress(`Outlook contacts: FAILED: ${message}`);
      ctx.print(heading, `FAILED: ${message}`);
    } finally {
      await alice.end();
    }
  },
};

/** Disconnects alice's earlier Outlook connections (a new sandbox never issued their tokens). */
async function disconnectEarlier(alice: ActingUser): Promise<number> {
  const { items: connections } = (await alice.call<{ items: Array<{ id: string; platform: string; status: string }> }>('GET', '/v1/connections?limit=200'))
    .body;
  const live = connections.filter((c) => c.platform === PLATFORM && c.status !== 'revoked');
  for (const c of live) await alice.call('DELETE', `/v1/connections/${c.id}`);
  return live.length;
}

async function connect(alice: ActingUser): Promise<string> {
  const created = await alice.call<{ connection: { id: string }; authorizationUrl: string }>('POST', '/v1/connections', {
    platform: PLATFORM,
    categories: ['contacts.import', 'contacts.invite'],
    attestations: { 'contacts.import': ATTESTATION },
    caseScope: { kind: 'all' },
    loginHint: alice.email,
  });
  // The person's part, done by the sandbox: it signs the hinted account in and redirects back at once.
  const authorize = await fetch(created.body.authorizationUrl, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (authorize.status !== 302 || !location) throw new Error(`the sandbox's Microsoft authorization answered ${authorize.status}, not a redirect`);
  const back = new URL(location);
  await alice.call('GET', `${back.pathname}${back.search}`);
  return created.body.connection.id;
}

async function graphRequests(ctx: DemoContext, account: string, since: number): Promise<number> {
  const res = await fetch(`${ctx.sandbox!.url}/_sandbox/ledger?provider=microsoft`);
  const { entries } = (await res.json()) as { entries: Array<{ atMs: number; account: string | null; path: string }> };
  return entries.filter((e) => e.atMs >= since && e.account === account && e.path.includes('/graph/')).length;
}

/** Invites the first imported contact the organization has not invited (or seen opt out) yet. */
async function inviteOne(ctx: DemoContext, alice: ActingUser, connectionId: string) {
  let cursor: string | null = null;
  do {
    const page: { items: ContactView[]; nextCursor: string | null } = (
      await alice.call<{ items: ContactView[]; nextCursor: string | null }>(
        'GET',
        `/v1/imported-contacts?connectionId=${connectionId}&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      )
    ).body;
    for (const contact of page.items) {
      if (contact.member || contact.invitedAt || !contact.emails.length) continue;
      try {
        const { invitation } = (await alice.call<{ invitation: { email: string; channel: string } }>('POST', `/v1/imported-contacts/${contact.id}/invitations`))
          .body;
        const mail = ctx.mail
          ?.messages()
          .filter((m) => m.to.includes(invitation.email))
          .at(-1);
        const link = /https?:\/\/\S+\/invitations\/cbi_[A-Za-z0-9_-]{43}(?=\s|$)/.exec(mail?.text ?? '')?.[0] ?? null;
        return { email: invitation.email, channel: invitation.channel, subject: mail?.subject ?? '(sent)', captured: !!mail, link };
      } catch (err) {
        // Invited on an earlier run, or opted out: try the next one.
        if (err instanceof DemoApiError && ['recently_invited', 'recipient_opted_out', 'already_member'].includes(err.code)) continue;
        throw err;
      }
    }
    cursor = page.nextCursor;
  } while (cursor);
  return null;
}
