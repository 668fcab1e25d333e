import { escapeHtml, layout } from './sign-in-pages.ts';
import type { SignInLinkLookup, UsableSignInLink } from './sign-in-links.ts';

/**
 * The page a sign-in link opens: who the link is for, and a button per sign-in method the
 * organization can use; or, for a link that cannot be used, why and what to do. Pure rendering.
 */

/** A sign-in method the link page offers: its button label and where it starts. */
export interface LinkSignInMethod {
  id: 'google' | 'saml';
  label: string;
  href: string;
}

export function signInLinkPage(params: { link: UsableSignInLink; methods: LinkSignInMethod[] }): string {
  const { link, methods } = params;
  const buttons = methods.length
    ? methods.map((m) => `<a class="button" id="link-sign-in-${m.id}" href="${escapeHtml(m.href)}">${escapeHtml(m.label)}</a>`).join('')
    : '<p role="alert">No sign-in method is available for this organization yet. The operator can configure Google Sign-In ' +
      "(GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET) or the organization's SAML identity provider (casebridge org saml set).</p>";
  return layout(
    'Set up your sign-in — Casebridge',
    `<h1>Sign in to ${escapeHtml(link.organizationName)}</h1>` +
      `<p>This one-time link is for <strong id="link-email">${escapeHtml(link.email)}</strong> (${escapeHtml(link.role)}). ` +
      'Sign in with the account of that e-mail address: it becomes your way into Casebridge.</p>' +
      `${buttons}<p><small>The link works once, until ${escapeHtml(link.expiresAt.toISOString().replace('T', ' ').slice(0, 16))} UTC.</small></p>`,
  );
}

/** Status, stable code and explanation of a link that cannot be used. */
export function unusableLink(lookup: Exclude<SignInLinkLookup, { kind: 'usable' }>): { status: 403 | 404 | 410; code: string; message: string } {
  switch (lookup.kind) {
    case 'unknown':
      return { status: 404, code: 'sign_in_link_unknown', message: 'This sign-in link is not valid. Check that it was copied whole, or ask for a new one.' };
    case 'used':
      return { status: 410, code: 'sign_in_link_used', message: 'This sign-in link has already been used. Sign in as usual, or ask for a new link.' };
    case 'expired':
      return { status: 410, code: 'sign_in_link_expired', message: 'This sign-in link has expired. Ask for a new one.' };
    case 'user_disabled':
      return { status: 403, code: 'user_disabled', message: 'The account this link is for has been disabled.' };
  }
}

export function unusableLinkPage(problem: { code: string; message: string }): string {
  return layout(
    'Sign-in link — Casebridge',
    `<h1>This sign-in link cannot be used</h1><p role="alert">${escapeHtml(problem.message)} <small>(${escapeHtml(problem.code)})</small></p>` +
      '<p>An operator issues a new link with <code>casebridge user invite-link --org ORG_ID --email E</code>.</p>' +
      '<a class="button" href="/login">Go to the sign-in page</a>',
  );
}
