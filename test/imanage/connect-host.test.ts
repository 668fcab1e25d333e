import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The iManage server address through the real connect route, with IMANAGE_ALLOW_PRIVATE_HOSTS off
 * (production): a plain-http or internal host is refused with a stable code before anything is
 * written, and the refusal names no secret.
 */

let t: TestServices;
let org: SeededOrg;
let admin: Record<string, string>;

beforeAll(async () => {
  t = await createTestServices({ IMANAGE_CLIENT_ID: 'firm-client', IMANAGE_CLIENT_SECRET: 'firm-secret-value' });
  org = await seedOrg(t.services);
  admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
}, 60_000);
afterAll(async () => t?.cleanup());

async function connect(host: string) {
  return t.app.request('/v1/connections', {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ platform: 'imanage', categories: ['documents.files'], caseScope: { kind: 'all' }, settings: { host } }),
  });
}

describe('iManage connect: the server address', () => {
  it.each([
    ['http://dms.example.com', 'host_not_https'],
    ['https://127.0.0.1:8443', 'host_not_allowed'],
    ['https://169.254.169.254', 'host_not_allowed'],
    ['https://[::1]', 'host_not_allowed'],
    ['https://localhost', 'host_not_allowed'],
  ])('refuses %s with 400 %s and writes nothing', async (host, code) => {
    const res = await connect(host);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(JSON.stringify(body)).not.toContain('firm-secret-value');
    expect(await t.services.db.selectFrom('connections').select('id').execute()).toEqual([]);
  });

  it('accepts a public https server and points the authorization at the firm host with the deployment client', async () => {
    const res = await connect('https://93.184.215.14');
    expect(res.status, await res.clone().text()).toBe(201);
    const { authorizationUrl } = (await res.json()) as { authorizationUrl: string };
    const url = new URL(authorizationUrl);
    expect(`${url.origin}${url.pathname}`).toBe('https://93.184.215.14/auth/oauth2/authorize');
    expect(url.searchParams.get('client_id')).toBe('firm-client');
    expect(url.searchParams.get('state')).toBeTruthy();
    expect(authorizationUrl).not.toContain('firm-secret-value');
  });
});
