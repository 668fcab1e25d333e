/** @jsxImportSource hono/jsx */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { getCookie, setCookie } from 'hono/cookie';
import { cookieIsSecure } from '../../auth/sessions.ts';
import { InvitationError } from '../../invitations/errors.ts';
import { acceptInvitation, viewInvitation } from '../../invitations/service.ts';
import type { WebApp } from '../env.ts';
import { PageError } from '../errors.ts';
import { Csrf, Layout } from '../layout.tsx';
import { sendPage } from '../render.ts';

/**
 * The page an invitation e-mail links to (no session: the token in the path is the credential):
 * `GET /invitations/{token}` says who invites whom to which organization, until when, and offers an
 * Accept button; opening the link accepts nothing (mail scanners open links). `POST` accepts through
 * the same `acceptInvitation` as the API — the membership, then the single-use sign-in link, to
 * which the browser is sent: its page offers the organization's sign-in methods.
 *
 * CSRF: the visitor has no session, so the form carries a random value that must equal the one in
 * an HttpOnly, SameSite=Strict cookie set with the page (double submit): another site can neither
 * read the cookie nor make the browser send it with a cross-site post. An expired invitation is a
 * 410 page (`invitation_expired`), a used one 409 (`invitation_used`), an unknown one 404, the same
 * codes as the API.
 */

const CSRF_COOKIE = 'cb_invitation_csrf';
const PATH = '/invitations';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length >= 32 && timingSafeEqual(x, y);
}

export function registerInvitationPages(web: WebApp): void {
  web.get(`${PATH}/:token`, async (c) => {
    const services = c.get('services');
    const token = c.req.param('token');
    const view = await viewInvitation(services, token);
    if (view.state === 'accepted') throw new InvitationError('invitation_used', 'This invitation was already accepted. Sign in instead.');
    if (view.state === 'expired') throw new InvitationError('invitation_expired', 'This invitation has expired. Ask the person who invited you for a new one.');
    const csrf = randomBytes(32).toString('base64url');
    setCookie(c, CSRF_COOKIE, csrf, { httpOnly: true, secure: cookieIsSecure(services.config.PUBLIC_BASE_URL), sameSite: 'Strict', path: PATH, maxAge: 3600 });
    const until = view.expiresAt.slice(0, 10);
    return sendPage(
      c,
      <Layout title={`Join ${view.organizationName} on Casebridge`} nonce={c.get('nonce')}>
        <p id="invitation-text">
          <strong>{view.inviterName}</strong> invites you (<span id="invitee-email">{view.email}</span>) to join{' '}
          <strong id="organization-name">{view.organizationName}</strong> on Casebridge.
        </p>
        <p class="muted">
          The invitation can be accepted once, until {until}. Accepting makes you a member of {view.organizationName}; you then sign in with one of the
          organization’s sign-in methods, using this address.
        </p>
        <form method="post" action={`${PATH}/${token}/accept`}>
          <Csrf token={csrf} />
          <button type="submit" id="accept-invitation">
            Accept and sign in
          </button>
        </form>
        <p class="muted">Not interested? Ignore the e-mail, or use its opt-out link: {view.organizationName} will not invite this address again.</p>
      </Layout>,
    );
  });

  web.post(`${PATH}/:token/accept`, async (c) => {
    const services = c.get('services');
    // A body that is not a form (a broken multipart, say) carries no CSRF value: refused below, not a 500.
    const body = await c.req.parseBody().catch(() => null);
    const sent = typeof body?._csrf === 'string' ? body._csrf : '';
    const kept = getCookie(c, CSRF_COOKIE) ?? '';
    if (!sameSecret(sent, kept))
      throw new PageError(403, 'csrf_token_invalid', 'This form has expired or did not come from this site. Open the invitation link again.');
    const accepted = await acceptInvitation(services, c.req.param('token'));
    // Same origin as this page (the sign-in link's own path): its page lists the sign-in methods.
    const signIn = new URL(accepted.signInUrl);
    return c.redirect(`${signIn.pathname}${signIn.search}`, 303);
  });
}
