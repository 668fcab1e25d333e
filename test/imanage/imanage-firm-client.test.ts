import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFirmClient } from '../../connectors/imanage/firm-client.ts';
import { connectorFor } from '../../connectors/registry.ts';
import { imanageStore } from '../../sandbox/imanage/work.ts';
import { createTokenAccess, vaultFor } from '../../src/connections/token-refresh.ts';
import { open } from '../../src/connections/token-vault.ts';
import { signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';

/**
 * The firm's own iManage OAuth client: an administrator registers the client id and secret the
 * firm's iManage administrator issued; the organization's authorize, code exchange and refresh then
 * use it (the emulator records which client each token request authenticated as), the deployment's
 * client stays the fallback; the secret is stored sealed and never answered, audited or shown.
 */

const SECRET = 'firm-secret-Zq81-never-shown';
const CLIENT = 'hartmann-casebridge';

let env: SyncEnv;
let admin: Record<string, string>;

beforeAll(async () => {
  env = await createSyncEnv({ env: { IMANAGE_ALLOW_PRIVATE_HOSTS: 'true' } });
  admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
  // The firm's iManage administrator registered Casebridge on their server.
  imanageStore(env.sandbox.state).clients.set(CLIENT, SECRET);
}, 60_000);
afterAll(async () => env?.close());

const put = (headers: Record<string, string>, body: unknown) =>
  env.t.app.request('/v1/admin/imanage/client', { method: 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function connect(): Promise<{ id: string; authorizationUrl: string }> {
  const res = await env.t.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({
      platform: 'imanage',
      categories: ['documents.files'],
      caseScope: { kind: 'all' },
      settings: { host: `${env.sandbox.url}/imanage`, libraryId: 'ACTIVE' },
    }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const body = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
  const back = new URL((await fetch(body.authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
  const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } });
  expect(cb.status, await cb.clone().text()).toBe(200);
  return { id: body.connection.id, authorizationUrl: body.authorizationUrl };
}

describe('iManage: the firm’s own OAuth client', () => {
  it('without a registration the deployment’s client is used', async () => {
    const view = (await (await env.t.app.request('/v1/admin/imanage/client', { headers: admin })).json()) as { configured: boolean };
    expect(view.configured).toBe(false);
    const { authorizationUrl } = await connect();
    expect(new URL(authorizationUrl).searchParams.get('client_id')).toBe('sandbox-imanage-client');
    expect(imanageStore(env.sandbox.state).tokenRequests.at(-1)).toEqual({ clientId: 'sandbox-imanage-client', grantType: 'authorization_code' });
  }, 60_000);

  it('refuses a member (403) and bad input (400), storing nothing', async () => {
    expect((await put(env.member, { clientId: CLIENT, clientSecret: SECRET })).status).toBe(403);
    for (const body of [
      { clientId: CLIENT },
      { clientId: '', clientSecret: 'x' },
      { clientId: 'a b', clientSecret: 'x' },
      { clientId: 'a', clientSecret: 'x', extra: 1 },
    ]) {
      const res = await put(admin, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    }
    expect(await env.t.services.db.selectFrom('imanage_firm_clients').selectAll().execute()).toEqual([]);
  });

  it('stores the registration sealed and never answers the secret', async () => {
    const res = await put(admin, { clientId: CLIENT, clientSecret: SECRET });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text)).toMatchObject({ configured: true, clientId: CLIENT, secretSet: true });
    const got = await (await env.t.app.request('/v1/admin/imanage/client', { headers: admin })).text();
    expect(got).not.toContain(SECRET);
    const row = await env.t.services.db.selectFrom('imanage_firm_clients').selectAll().executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(SECRET);
    const audit = await env.t.services.db.selectFrom('audit_log').selectAll().where('action', 'like', 'imanage_client.%').execute();
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(SECRET);
    // It opens for this organization only (the organization id is the additional data).
    expect((await loadFirmClient(env.t.services, env.org.organizationId))?.clientSecret).toBe(SECRET);
    const keyring = vaultFor(env.t.services).keyring;
    expect(() => open(keyring, { keyId: row.secret_key_id, ciphertext: row.secret_ciphertext }, `imanage-client:${randomUUID()}`)).toThrow(
      /does not authenticate/,
    );
  });

  it('authorize, code exchange and refresh use the firm’s client', async () => {
    const before = imanageStore(env.sandbox.state).tokenRequests.length;
    const { id, authorizationUrl } = await connect();
    expect(new URL(authorizationUrl).searchParams.get('client_id')).toBe(CLIENT);
    expect(authorizationUrl).not.toContain(SECRET);
    expect(imanageStore(env.sandbox.state).tokenRequests.slice(before)).toEqual([{ clientId: CLIENT, grantType: 'authorization_code' }]);

    const oauth = connectorFor('imanage')!.oauth!;
    const stale = (await vaultFor(env.t.services).load(id))!.accessToken;
    const fresh = await createTokenAccess(env.t.services, { oauth, onReauthRequired: async () => undefined }).refreshAfterRejection(id, stale);
    expect(fresh).not.toBe(stale);
    expect(imanageStore(env.sandbox.state).tokenRequests.at(-1)).toEqual({ clientId: CLIENT, grantType: 'refresh_token' });
    const view = await (await env.t.app.request(`/v1/connections/${id}`, { headers: admin })).text();
    expect(view).not.toContain(SECRET);
  }, 60_000);

  it('a wrong registered secret fails the connect with a clear error that names no secret', async () => {
    expect((await put(admin, { clientId: CLIENT, clientSecret: 'wrong-secret-value' })).status).toBe(200);
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'imanage',
        categories: ['documents.files'],
        caseScope: { kind: 'all' },
        settings: { host: `${env.sandbox.url}/imanage` },
      }),
    });
    const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
    const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
    const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...admin, accept: 'application/json' } });
    // The firm's server refused the client: a gateway error with a stable code, nothing stored.
    expect(cb.status).toBe(502);
    const body = await cb.text();
    expect(body).toContain('token_exchange_failed');
    expect(body).not.toContain('wrong-secret-value');
  }, 60_000);

  it('removing the registration falls back to the deployment’s client', async () => {
    const del = await env.t.app.request('/v1/admin/imanage/client', { method: 'DELETE', headers: admin });
    expect(del.status).toBe(200);
    expect((await env.t.app.request('/v1/admin/imanage/client', { method: 'DELETE', headers: admin })).status).toBe(404);
    const { authorizationUrl } = await connect();
    expect(new URL(authorizationUrl).searchParams.get('client_id')).toBe('sandbox-imanage-client');
  }, 60_000);
});
