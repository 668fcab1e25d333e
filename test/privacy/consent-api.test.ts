import { compactVerify, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATEGORY_IDS } from '../../src/consent/categories.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { insertCase, insertConnection, jobCtx } from './helpers.ts';

const ATTESTATION = 'I have the legal right to import these contacts';

describe('consent API', () => {
  let t: TestServices;
  let org: SeededOrg;
  let other: SeededOrg;
  let member: Record<string, string>;
  let admin: Record<string, string>;
  let outsider: Record<string, string>;
  let connectionId: string;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Consent Firm');
    other = await seedOrg(t.services, 'Other Firm');
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    outsider = await signInAs(t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
  });
  afterAll(async () => t.cleanup());

  const post = (id: string, body: unknown, headers = member) =>
    t.app.request(`/v1/connections/${id}/consents`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'ConsentTest/1.0', 'x-forwarded-for': '203.0.113.7, 10.0.0.1' },
      body: JSON.stringify(body),
    });

  it('lists the category registry for the consent screen', async () => {
    const res = await t.app.request('/v1/consent-categories', { headers: member });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { categories: Array<{ id: string; fields: string[]; attestation: string | null }> };
    expect(body.categories.map((c) => c.id)).toEqual([...CATEGORY_IDS]);
    expect(body.categories.find((c) => c.id === 'contacts.import')!.attestation).toBe(ATTESTATION);
    expect((await t.app.request('/v1/consent-categories')).status).toBe(401);
  });

  it('grants, reads, versions and withdraws in one call each; the gate follows at once', async () => {
    const first = await post(connectionId, { categories: ['calendar.events'] });
    expect(first.status).toBe(201);
    const v1 = ((await first.json()) as { consent: Record<string, unknown> }).consent;
    expect(v1).toMatchObject({
      version: 1,
      categories: ['calendar.events'],
      caseScope: { kind: 'all' },
      method: 'api',
      ip: null,
      userAgent: 'ConsentTest/1.0',
      current: true,
    });

    const send = () =>
      t.services.gate.send(
        jobCtx(connectionId),
        {
          operation: 'create',
          categories: ['calendar.events', 'calendar.events.details'],
          subjects: {},
          recipient: { account: null, destination: null },
          fields: { title: 't', description: 'd' },
        },
        async (fields) => ({ value: Object.keys(fields).sort() }),
      );
    expect(await send()).toMatchObject({ outcome: 'sent', value: ['title'] });

    // A client cannot claim a consent screen it did not get from us.
    const second = await post(connectionId, { categories: ['calendar.events', 'calendar.events.details'], method: 'consent_screen' });
    expect(second.status).toBe(201);
    expect(((await second.json()) as { consent: { method: string } }).consent.method).toBe('api');
    // The wider consent is seen by the (warm) gate cache at the next call: granting bumps the epoch.
    expect(await send()).toMatchObject({ outcome: 'sent', value: ['description', 'title'] });

    const current = await t.app.request(`/v1/connections/${connectionId}/consent`, { headers: member });
    expect(((await current.json()) as { consent: { version: number } }).consent.version).toBe(2);
    const history = (await (await t.app.request(`/v1/connections/${connectionId}/consents`, { headers: member })).json()) as {
      items: Array<{ version: number; current: boolean; withdrawnBy: string | null }>;
    };
    expect(history.items.map((i) => [i.version, i.current, i.withdrawnBy])).toEqual([
      [2, true, null],
      [1, false, 'superseded'],
    ]);

    const withdrawn = await t.app.request(`/v1/connections/${connectionId}/consent`, { method: 'DELETE', headers: member });
    expect(withdrawn.status).toBe(200);
    expect(await withdrawn.json()).toMatchObject({ withdrawn: true });
    expect(await send()).toMatchObject({ outcome: 'blocked', reason: 'consent_withdrawn' });
    expect((await t.app.request(`/v1/connections/${connectionId}/consent`, { headers: member })).status).toBe(404);
  });

  it('requires the attestation text word for word', async () => {
    const missing = await post(connectionId, { categories: ['contacts.import'] });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('attestation_required');
    const wrong = await post(connectionId, { categories: ['contacts.import'], attestations: { 'contacts.import': 'sure' } });
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('attestation_required');
    const ok = await post(connectionId, { categories: ['contacts.import'], attestations: { 'contacts.import': ATTESTATION } });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { consent: { attestations: Record<string, string> } }).consent.attestations).toEqual({ 'contacts.import': ATTESTATION });
  });

  it('validates categories, case scope, policy version and connection state', async () => {
    const bad = await post(connectionId, { categories: ['calendar.everything'] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    const foreignCase = await insertCase(t.services, other.organizationId, 'X-1');
    const scope = await post(connectionId, { categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [foreignCase] } });
    expect(scope.status).toBe(400);
    expect(((await scope.json()) as { error: { code: string } }).error.code).toBe('unknown_case');
    const ownCase = await insertCase(t.services, org.organizationId, 'O-1');
    const scoped = await post(connectionId, { categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [ownCase] } });
    expect(scoped.status).toBe(201);
    const outdated = await post(connectionId, { categories: ['calendar.events'], policyVersion: '2001-01-01' });
    expect(outdated.status).toBe(409);
    const revoked = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, status: 'revoked' });
    expect((await post(revoked, { categories: ['calendar.events'] })).status).toBe(409);
  });

  it('only lets the owner change consent; admins read; other organizations get 404', async () => {
    expect((await post(connectionId, { categories: ['calendar.events'] }, admin)).status).toBe(403);
    expect((await t.app.request(`/v1/connections/${connectionId}/consents`, { headers: admin })).status).toBe(200);
    expect((await post(connectionId, { categories: ['calendar.events'] }, outsider)).status).toBe(404);
    expect((await t.app.request(`/v1/connections/${connectionId}/consents`, { headers: outsider })).status).toBe(404);
    expect((await t.app.request(`/v1/connections/${connectionId}/consent`, { method: 'DELETE', headers: outsider })).status).toBe(404);
    const adminsOwn = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.admin.id });
    expect((await t.app.request(`/v1/connections/${adminsOwn}/consents`, { headers: member })).status).toBe(404);
    const noCsrf = await t.app.request(`/v1/connections/${connectionId}/consent`, { method: 'DELETE', headers: { cookie: member.cookie! } });
    expect(noCsrf.status).toBe(403);
  });

  it('serves a signed receipt with the Kantara consent-receipt fields', async () => {
    const res = await t.app.request(`/v1/connections/${connectionId}/consents/1/receipt`, { headers: member });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { receipt: Record<string, unknown>; jws: string };
    expect(body.receipt).toMatchObject({
      version: 'KI-CR-v1.1.0',
      jurisdiction: expect.any(String),
      consentTimestamp: expect.any(Number),
      collectionMethod: 'Casebridge API',
      piiPrincipalId: org.member.email,
      piiControllers: [expect.objectContaining({ piiController: 'Consent Firm' })],
      policyUrl: expect.stringContaining('/privacy/consent-policy/'),
      piiCategory: ['Case calendar entries'],
      sensitive: false,
    });
    expect((body.receipt.services as Array<{ purposes: unknown[] }>)[0]!.purposes).toHaveLength(1);
    // The JWS verifies with the published JWK and a stock JOSE library, and its payload is the receipt.
    const { keys } = (await (await t.app.request('/.well-known/jwks.json')).json()) as { keys: JWK[] };
    const verified = await compactVerify(body.jws, await importJWK(keys[0]!, 'EdDSA'));
    expect(verified.protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'consent-receipt+jws', kid: keys[0]!.kid });
    expect(JSON.parse(new TextDecoder().decode(verified.payload))).toEqual(JSON.parse(JSON.stringify(body.receipt)));
    const [header, , signature] = body.jws.split('.');
    const edited = Buffer.from(JSON.stringify({ ...body.receipt, jurisdiction: 'XX' })).toString('base64url');
    await expect(compactVerify(`${header}.${edited}.${signature}`, await importJWK(keys[0]!, 'EdDSA'))).rejects.toThrow();
    expect((await t.app.request(`/v1/connections/${connectionId}/consents/99/receipt`, { headers: member })).status).toBe(404);
  });
});
