/**
 * The two small HTML pages of sign-in: `/login` (buttons per authenticator, the reason of a refused
 * sign-in) and `/` (who is signed in). Pure rendering; every value is escaped.
 */

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** Headers for both pages: no framing, no third-party anything, forms only to ourselves. */
export const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const MESSAGES: Record<string, string> = {
  oidc_state_missing: 'The sign-in took too long or was started in another browser. Please try again.',
  oidc_state_mismatch: 'The sign-in response did not match the sign-in you started. Please try again.',
  oidc_email_unverified: 'Your Google account’s e-mail address is not verified.',
  oidc_domain_not_allowed: 'Your organization does not allow this Google account.',
  account_not_provisioned: 'There is no Casebridge account for you yet. Ask your administrator.',
  account_not_linked: 'Your account exists but this sign-in method is not linked to it. Ask your administrator.',
  organization_ambiguous: 'You belong to several organizations. Please use your organization’s sign-in link.',
  oidc_token_issued_in_future: 'The sign-in response was not valid yet (is a clock wrong?). Please try again.',
  user_disabled: 'Your account has been disabled.',
  saml_idp_initiated_not_allowed: 'Please start the sign-in from this page.',
  google_sign_in_not_configured: 'Google Sign-In is not configured on this server.',
  provider_unavailable: 'The sign-in provider could not be reached. Please try again shortly.',
  sign_in_link_used: 'That sign-in link has already been used. Sign in below, or ask for a new link.',
  sign_in_link_expired: 'That sign-in link has expired. Ask for a new one.',
  sign_in_link_unknown: 'That sign-in link is not valid. Ask for a new one.',
  sign_in_link_email_mismatch: 'That sign-in link is for another e-mail address. Open it again and sign in with that account.',
  identity_linked_elsewhere: 'This account is already linked to another Casebridge user.',
};

/** The pages' shared frame (escape every value put into `body`). */
export const layout = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem;color:#1f2328}` +
  `a.button,button{display:block;width:100%;box-sizing:border-box;margin:.75rem 0;padding:.75rem 1rem;border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa;color:inherit;text-decoration:none;font:inherit;text-align:center;cursor:pointer}` +
  `[role=alert]{padding:.75rem;border-radius:6px;background:#ffebe9}.note{padding:.75rem;border-radius:6px;background:#ddf4ff}</style></head><body>${body}</body></html>`;

export function loginPage(params: {
  returnTo: string;
  error?: string | null;
  loggedOut?: boolean;
  organization?: { id: string; name: string; saml: boolean } | null;
}): string {
  const q = (extra: Record<string, string>) => {
    const s = new URLSearchParams({ ...(params.returnTo !== '/' ? { returnTo: params.returnTo } : {}), ...extra }).toString();
    return s ? `?${s}` : '';
  };
  const code = params.error && /^[a-z_]{1,64}$/.test(params.error) ? params.error : null;
  const alert = code ? `<p role="alert">${escapeHtml(MESSAGES[code] ?? 'Sign-in failed.')} <small>(${escapeHtml(code)})</small></p>` : '';
  const note = params.loggedOut ? '<p class="note">You have signed out.</p>' : '';
  const org = params.organization;
  const google = `<a class="button" id="sign-in-google" href="/auth/google/start${escapeHtml(q(org ? { org: org.id } : {}))}">Sign in with Google</a>`;
  const saml = org?.saml
    ? `<a class="button" id="sign-in-onelogin" href="/auth/saml/${escapeHtml(org.id)}/login${escapeHtml(q({}))}">Sign in with OneLogin</a>`
    : '';
  const heading = org ? `Sign in to ${escapeHtml(org.name)}` : 'Sign in to Casebridge';
  return layout('Sign in — Casebridge', `<h1>${heading}</h1>${alert}${note}${google}${saml}`);
}

export function homePage(params: {
  user: { name: string | null; email: string };
  organization: { id: string; name: string };
  role: string;
  csrfToken: string;
  samlLogoutUrl: string | null;
}): string {
  const { user, organization } = params;
  const signOut = params.samlLogoutUrl
    ? `<a class="button" id="sign-out" href="${escapeHtml(params.samlLogoutUrl)}">Sign out</a>`
    : `<form method="post" action="/auth/logout"><input type="hidden" name="csrfToken" value="${escapeHtml(params.csrfToken)}"><button id="sign-out" type="submit">Sign out</button></form>`;
  return layout(
    'Casebridge',
    `<h1>Casebridge</h1><p>Signed in as <strong id="user-name">${escapeHtml(user.name ?? user.email)}</strong> ` +
      `&lt;<span id="user-email">${escapeHtml(user.email)}</span>&gt;</p>` +
      `<p>Organization: <strong id="organization-name">${escapeHtml(organization.name)}</strong> · role <span id="role">${escapeHtml(params.role)}</span></p>${signOut}`,
  );
}
