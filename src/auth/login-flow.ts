import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { clientAddress } from '../api/client-address.ts';
import { errorBody } from '../api/errors.ts';
import type { AppEnv } from '../api/env.ts';
import { recordSecurityEvent } from '../security/events.ts';
import type { Services } from '../services.ts';
import type { ResolvedLogin } from './identities.ts';
import { SESSION_COOKIE, type SessionData, setSessionCookie } from './sessions.ts';
import { SignInError } from './sign-in-error.ts';

/**
 * The common ends of every sign-in flow: a new session (always a new id, so a cookie planted before
 * login is worthless) and a security event on success; a security event and a clear error on
 * failure.
 */

type Ctx = Context<AppEnv>;

/** The client's address: the socket peer, or what the `TRUST_PROXY` proxies forwarded (one rule for the whole API). */
export function clientIp(c: Ctx): string | null {
  return clientAddress(c);
}

export function userAgent(c: Ctx): string | null {
  return c.req.header('user-agent')?.slice(0, 512) ?? null;
}

/** Ends any session the browser already had, starts a new one and records the login. */
export async function startSession(
  c: Ctx,
  services: Services,
  login: ResolvedLogin,
  options: { method: 'google' | 'saml'; saml?: SessionData['saml']; samlOrganizationId?: string },
): Promise<string> {
  const previous = getCookie(c, SESSION_COOKIE);
  if (previous) await services.sessions.destroy(previous);
  const ip = clientIp(c);
  const ua = userAgent(c);
  const { id } = await services.sessions.create({
    userId: login.userId,
    organizationId: login.organizationId,
    role: login.role,
    method: options.method === 'saml' ? `saml:${options.samlOrganizationId}` : 'google',
    identityId: login.identityId,
    ...(options.saml ? { saml: options.saml } : {}),
    ...(ip ? { ip } : {}),
    ...(ua ? { userAgent: ua } : {}),
  });
  setSessionCookie(c, id, services.sessions.policy);
  await recordSecurityEvent(services.db, {
    organizationId: login.organizationId,
    userId: login.userId,
    kind: 'login',
    outcome: 'success',
    method: options.method,
    ip,
    userAgent: ua,
    details: { via: login.via, identityId: login.identityId },
  });
  return id;
}

/** Whether the caller is a browser navigating (gets a redirect to the sign-in page, not JSON). */
function wantsHtml(c: Ctx): boolean {
  return (c.req.header('accept') ?? '').includes('text/html');
}

/**
 * Records a refused sign-in and answers it: browsers are sent to `/login?error=<code>`, other
 * clients get the JSON error. Unexpected errors are logged and reported as `sign_in_failed`.
 */
export async function failSignIn(
  c: Ctx,
  services: Services,
  err: unknown,
  context: { method: 'google' | 'saml'; organizationId?: string | null },
): Promise<Response> {
  const known = err instanceof SignInError ? err : new SignInError('sign_in_failed', 'the sign-in could not be completed', { status: 503 });
  if (!(err instanceof SignInError)) services.logger.error({ err, method: context.method }, 'sign-in failed unexpectedly');
  const organizationId = known.options.organizationId ?? context.organizationId ?? null;
  // An organization id from the URL may not exist; only attribute the event to a real one.
  const orgExists = organizationId
    ? Boolean(await services.db.selectFrom('organizations').select('id').where('id', '=', organizationId).executeTakeFirst())
    : false;
  await recordSecurityEvent(services.db, {
    organizationId: orgExists ? organizationId : null,
    userId: known.options.userId ?? null,
    kind: 'login',
    outcome: 'failure',
    reason: known.code,
    method: context.method,
    ip: clientIp(c),
    userAgent: userAgent(c),
    details: { message: known.message, ...(known.options.details ?? {}) },
  });
  services.logger.warn({ method: context.method, code: known.code, organizationId }, 'sign-in refused');
  if (wantsHtml(c)) {
    const params = new URLSearchParams({ error: known.code });
    if (orgExists && organizationId) params.set('org', organizationId);
    return c.redirect(`/login?${params}`, 303);
  }
  return c.json(errorBody(known.code, known.message), known.status);
}
