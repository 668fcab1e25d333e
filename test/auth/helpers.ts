import { inflateRawSync } from 'node:zlib';
import { expect } from 'vitest';
import type { Sandbox } from '../../sandbox/server.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../../src/auth/sessions.ts';
import type { Services } from '../../src/services.ts';
import type { TestServices } from '../support/services.ts';

/**
 * A browser's cookie jar, for driving redirect flows by hand against `app.request` and the sandbox:
 * keeps Set-Cookie values (honouring Path and deletion), sends the matching ones.
 */
export class CookieJar {
  private cookies = new Map<string, { value: string; path: string }>();

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^max-age=0$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }

  header(pathname: string): string {
    return [...this.cookies.entries()]
      .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  get(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }

  set(name: string, value: string, path = '/'): void {
    this.cookies.set(name, { value, path });
  }
}

/** A request to the app (in memory) as a browser with this jar would send it. */
export async function browse(
  t: TestServices,
  jar: CookieJar,
  url: string,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Response> {
  const target = new URL(url, t.config.PUBLIC_BASE_URL);
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const cookie = jar.header(target.pathname);
  if (cookie) headers.cookie = cookie;
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const res = await t.app.request(`${target.pathname}${target.search}`, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body });
  jar.store(res);
  return res;
}

/** The Location of a redirect (asserting it is one). */
export function location(res: Response): URL {
  expect([301, 302, 303], `expected a redirect, got ${res.status}`).toContain(res.status);
  return new URL(res.headers.get('location')!, 'http://localhost:3000');
}

/** Session headers (cookie + CSRF) of the jar's signed-in session, read from /v1/me. */
export async function sessionHeaders(t: TestServices, jar: CookieJar): Promise<Record<string, string>> {
  const me = await browse(t, jar, '/v1/me');
  expect(me.status).toBe(200);
  const body = (await me.json()) as { csrfToken: string };
  return { cookie: `${SESSION_COOKIE}=${jar.get(SESSION_COOKIE)}`, [CSRF_HEADER]: body.csrfToken };
}

/**
 * Google sign-in through the real flow: /auth/google/start → sandbox authorize (login_hint) →
 * /auth/google/callback. `tamper` may rewrite the callback URL (attack tests).
 */
export async function googleSignIn(
  t: TestServices,
  jar: CookieJar,
  params: { email: string; org?: string; returnTo?: string; tamper?: (callback: URL) => URL },
): Promise<{ res: Response; callback: URL }> {
  const q = new URLSearchParams({
    login_hint: params.email,
    ...(params.org ? { org: params.org } : {}),
    ...(params.returnTo ? { returnTo: params.returnTo } : {}),
  });
  const start = await browse(t, jar, `/auth/google/start?${q}`);
  const authorize = location(start);
  const atGoogle = await fetch(authorize, { redirect: 'manual' });
  let callback = location(atGoogle);
  if (params.tamper) callback = params.tamper(callback);
  const res = await browse(t, jar, callback.toString());
  return { res, callback };
}

/** The error code of a JSON error response. */
export async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error?: { code?: string } };
  return body.error?.code ?? `(no error code; status ${res.status})`;
}

/** Security events with this reason (any organization), newest first. */
export async function eventsWithReason(services: Services, reason: string) {
  return services.db.selectFrom('security_events').selectAll().where('reason', '=', reason).orderBy('created_at', 'desc').execute();
}

/** Starts an SP-initiated SAML login: the IdP URL, the AuthnRequest id and the RelayState. */
export async function samlStart(t: TestServices, jar: CookieJar, orgId: string, returnTo?: string) {
  const res = await browse(t, jar, `/auth/saml/${orgId}/login${returnTo ? `?returnTo=${encodeURIComponent(returnTo)}` : ''}`);
  const idpUrl = location(res);
  const request = inflateRawSync(Buffer.from(idpUrl.searchParams.get('SAMLRequest')!, 'base64')).toString();
  const requestId = /ID="([^"]+)"/.exec(request)![1]!;
  return { idpUrl, requestId, relayState: idpUrl.searchParams.get('RelayState')!, request };
}

/** Reads the hidden fields of the IdP's auto-submitting form. */
export function formFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]!] = m[2]!.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
  }
  return out;
}

/** Completes an SP-initiated SAML login at the sandbox IdP for `email`. */
export async function samlSignIn(t: TestServices, jar: CookieJar, sandbox: Sandbox, orgId: string, email: string, returnTo?: string) {
  const { idpUrl } = await samlStart(t, jar, orgId, returnTo);
  void sandbox;
  idpUrl.searchParams.set('user', email);
  const html = await (await fetch(idpUrl)).text();
  const fields = formFields(html);
  const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&');
  return browse(t, jar, action, { form: fields });
}

/**
 * Test set-up of a verified Google Workspace domain claim (what the super administrator's approval
 * leaves), for tests whose subject is not the claim itself.
 */
export async function verifiedGoogleDomain(services: Services, organizationId: string, domain: string): Promise<void> {
  await services.db
    .insertInto('google_domains')
    .values({ domain, organization_id: organizationId, status: 'verified', verified_at: new Date() })
    .onConflict((oc) => oc.column('domain').doUpdateSet({ organization_id: organizationId, status: 'verified', verified_at: new Date() }))
    .execute();
}
