/** @jsxImportSource hono/jsx */
import type { Child } from 'hono/jsx';
import type { UsableSignInLink } from '../../auth/sign-in-links.ts';
import { Layout } from '../layout.tsx';

/**
 * The pages of sign-in, as hono/jsx components (every value auto-escaped): `/login` (a button per
 * authenticator, the reason of a refused sign-in), `/` (who is signed in), and the page a sign-in
 * link opens (or why it cannot be used). Same frame and stylesheet as the other pages; no script.
 */

/** Headers of the sign-in pages: no script at all, styles only from our origin, forms only to ourselves, no framing. */
export const SIGN_IN_PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** What a refused sign-in's code means, in words (`/login?error=<code>`). */
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

function page(title: string, children: Child): string {
  return `<!doctype html>${String(
    <Layout title={title} nonce="">
      {children}
    </Layout>,
  )}`;
}

function Problem(props: { message: string; code: string }) {
  return (
    <div class="notice notice-error" role="alert" data-error-code={props.code}>
      <p>
        {props.message} <small>({props.code})</small>
      </p>
    </div>
  );
}

/** `/login`: the sign-in buttons, with the organization's SAML button when `?org=` names one that has SAML. */
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
  const org = params.organization;
  return page(
    org ? `Sign in to ${org.name}` : 'Sign in to Casebridge',
    <>
      {code ? <Problem message={MESSAGES[code] ?? 'Sign-in failed.'} code={code} /> : null}
      {params.loggedOut ? (
        <div class="notice notice-ok note" role="status">
          <p>You have signed out.</p>
        </div>
      ) : null}
      <p>
        <a class="button" id="sign-in-google" href={`/auth/google/start${q(org ? { org: org.id } : {})}`}>
          Sign in with Google
        </a>
      </p>
      {org?.saml ? (
        <p>
          <a class="button" id="sign-in-onelogin" href={`/auth/saml/${org.id}/login${q({})}`}>
            Sign in with OneLogin
          </a>
        </p>
      ) : null}
    </>,
  );
}

/** `/`: who is signed in, and the way to the pages. */
export function homePage(params: {
  user: { name: string | null; email: string };
  organization: { id: string; name: string };
  role: string;
  csrfToken: string;
  samlLogoutUrl: string | null;
}): string {
  const { user, organization } = params;
  return page(
    'Casebridge',
    <>
      <p>
        Signed in as <strong id="user-name">{user.name ?? user.email}</strong> &lt;<span id="user-email">{user.email}</span>&gt;
      </p>
      <p>
        Organization: <strong id="organization-name">{organization.name}</strong> · role <span id="role">{params.role}</span>
      </p>
      <p>
        <a class="button" id="go-to-apps" href="/apps">
          Your connected apps
        </a>
      </p>
      {params.samlLogoutUrl ? (
        <p>
          <a class="button secondary" id="sign-out" href={params.samlLogoutUrl}>
            Sign out
          </a>
        </p>
      ) : (
        <form method="post" action="/auth/logout">
          <input type="hidden" name="csrfToken" value={params.csrfToken} />
          <button id="sign-out" type="submit" class="secondary">
            Sign out
          </button>
        </form>
      )}
    </>,
  );
}

/** A sign-in method the link page offers: its button label and where it starts. */
export interface LinkSignInMethod {
  id: 'google' | 'saml';
  label: string;
  href: string;
}

/** The page a sign-in link opens: who the link is for, and a button per sign-in method. Opening it uses nothing. */
export function signInLinkPage(params: { link: UsableSignInLink; methods: LinkSignInMethod[] }): string {
  const { link, methods } = params;
  return page(
    `Sign in to ${link.organizationName}`,
    <>
      <p>
        This one-time link is for <strong id="link-email">{link.email}</strong> ({link.role}). Sign in with the account of that e-mail address: it becomes your
        way into Casebridge.
      </p>
      {methods.length ? (
        methods.map((m) => (
          <p>
            <a class="button" id={`link-sign-in-${m.id}`} href={m.href}>
              {m.label}
            </a>
          </p>
        ))
      ) : (
        <div class="notice notice-error" role="alert">
          <p>
            No sign-in method is available for this organization yet. The operator can configure Google Sign-In (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET) or
            the organization's SAML identity provider (casebridge org saml set).
          </p>
        </div>
      )}
      <p>
        <small>The link works once, until {link.expiresAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.</small>
      </p>
    </>,
  );
}

/** A sign-in link that cannot be used: why, and what to do. */
export function unusableLinkPage(problem: { code: string; message: string }): string {
  return page(
    'This sign-in link cannot be used',
    <>
      <Problem message={problem.message} code={problem.code} />
      <p>
        An operator issues a new link with <code>casebridge user invite-link --org ORG_ID --email E</code>.
      </p>
      <p>
        <a class="button" href="/login">
          Go to the sign-in page
        </a>
      </p>
    </>,
  );
}
