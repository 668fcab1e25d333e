import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { hashApiKey } from '../../src/auth/api-keys.ts';
import type { TransferLogEntry } from '../../src/transfers/log-entry.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The admin pages and the user's own access report over `app.request()`: administrators only (a
 * member gets a 403 page), another organization's data never shown, the API key shown once, bad input
 * as a 4xx with a stable code and nothing written, security events recorded by the shared domain
 * functions, exports streamed, and the sign-in pages escaping what they show.
 */
describe('admin pages', () => {
  let t: TestServices;
  let org: SeededOrg;
  let rival: SeededOrg;
  let member: Record<string, string>;
  let admin: Record<string, string>;
  let rivalAdmin: Record<string, string>;

  const html = { accept: 'text/html' };
  const get = (h: Record<string, string>, path: string) => t.app.request(path, { headers: { cookie: h.cookie!, ...html } });
  const post = (h: Record<string, string>, path: string, body: Record<string, string>, withCsrf = true) => {
    const params = new URLSearchParams(body);
    if (withCsrf) params.append('_csrf', h['x-csrf-token']!);
    return t.app.request(path, {
      method: 'POST',
      headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: params.toString(),
    });
  };
  const codeOf = async (res: Response) => /data-error-code="([a-z_]+)"/.exec(await res.text())?.[1];

  const metadata = (entityId: string, pem: string) =>
    `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(pem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;

  beforeAll(async () => {
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services, 'Admin Pages Firm');
    rival = await seedOrg(t.services, 'Rival Pages Firm');
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    rivalAdmin = await signInAs(t.services, { id: rival.admin.id, organizationId: rival.organizationId, role: 'admin' });
  });
  afterAll(async () => t?.cleanup());

  it('answers a member with a 403 page on every admin page', async () => {
    for (const path of [
      '/admin/sign-in',
      '/admin/api-keys',
      '/admin/platforms',
      '/admin/transfers',
      '/admin/transfers/export',
      '/admin/access',
      '/admin/security-events',
    ]) {
      const res = await get(member, path);
      expect(res.status, path).toBe(403);
      expect(await codeOf(res), path).toBe('admin_required');
    }
    const created = await post(member, '/admin/api-keys', { name: 'sneaky' });
    expect(created.status).toBe(403);
    const keys = await t.services.db.selectFrom('api_keys').select('name').where('organization_id', '=', org.organizationId).execute();
    expect(keys.map((k) => k.name)).toEqual(['test']);
  });

  it('creates an API key shown once, lists it without the secret, and revokes it', async () => {
    const res = await post(admin, '/admin/api-keys', { name: 'Case app' });
    expect(res.status).toBe(200);
    const page = await res.text();
    const key = /id="new-api-key"[^>]*value="([^"]+)"/.exec(page)![1]!;
    const row = await t.services.db.selectFrom('api_keys').select(['id', 'key_hash']).where('name', '=', 'Case app').executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashApiKey(key));
    // The key works on the API, and the list never shows it again.
    const ingest = (ref: string) =>
      t.app.request(`/v1/ingest/cases/${ref}`, {
        method: 'PUT',
        headers: { ...bearer(key), 'content-type': 'application/json' },
        body: JSON.stringify({ number: ref, title: 'Key check', assignees: [] }),
      });
    expect((await ingest('key-1')).status).toBe(201);
    const list = await (await get(admin, '/admin/api-keys')).text();
    expect(list).toContain('Case app');
    expect(list).not.toContain(key);
    // Another organization's administrator cannot see or revoke it.
    expect(await (await get(rivalAdmin, '/admin/api-keys')).text()).not.toContain('Case app');
    expect((await post(rivalAdmin, `/admin/api-keys/${row.id}/revoke`, {})).status).toBe(404);
    // Without the CSRF token nothing happens.
    expect((await post(admin, `/admin/api-keys/${row.id}/revoke`, {}, false)).status).toBe(403);
    const revoked = await post(admin, `/admin/api-keys/${row.id}/revoke`, {});
    expect(revoked.status).toBe(303);
    expect((await ingest('key-2')).status).toBe(401);
    expect((await post(admin, '/admin/api-keys', { name: '' })).status).toBe(400);
  });

  it('saves the sign-in policy and refuses a bad domain with nothing written', async () => {
    const bad = await post(admin, '/admin/sign-in/policy', { allowedGoogleDomains: 'not a domain!', defaultRole: 'member' });
    expect(bad.status).toBe(400);
    expect(await codeOf(bad)).toBe('validation_failed');
    const ok = await post(admin, '/admin/sign-in/policy', {
      allowedGoogleDomains: 'admin-pages.example\nexample.org',
      defaultRole: 'member',
      jitProvisioning: 'yes',
    });
    expect(ok.status).toBe(303);
    const settings = (await t.services.db.selectFrom('organizations').select('settings').where('id', '=', org.organizationId).executeTakeFirstOrThrow())
      .settings;
    expect(settings.allowedGoogleDomains).toEqual(['admin-pages.example', 'example.org']);
    expect(settings.jitProvisioning).toBe(true);
    // Another organization cannot claim the same domain: 409, its settings unchanged.
    const taken = await post(rivalAdmin, '/admin/sign-in/policy', { allowedGoogleDomains: 'example.org', defaultRole: 'member' });
    expect(taken.status).toBe(409);
    expect(await codeOf(taken)).toBe('domain_claimed');
    const page = await (await get(admin, '/admin/sign-in')).text();
    expect(page).toContain('example.org: waiting for the operator');
  });

  it('configures SAML from a metadata file, shows our SP metadata link, and refuses bad metadata', async () => {
    const { certificatePem } = generateSigningMaterial('idp.example');
    const body = new FormData();
    body.append('_csrf', admin['x-csrf-token']!);
    body.append('metadata', new File([metadata('https://idp.example/metadata/1', certificatePem)], 'idp.xml', { type: 'text/xml' }));
    const res = await t.app.request('/admin/sign-in/saml', { method: 'POST', headers: { cookie: admin.cookie!, ...html }, body });
    expect(res.status).toBe(303);
    const saved = await t.services.db
      .selectFrom('saml_configs')
      .select(['entity_id', 'sso_url'])
      .where('organization_id', '=', org.organizationId)
      .executeTakeFirstOrThrow();
    expect(saved).toEqual({ entity_id: 'https://idp.example/metadata/1', sso_url: 'https://idp.example/sso' });
    const page = await (await get(admin, '/admin/sign-in')).text();
    expect(page).toContain(`/auth/saml/${org.organizationId}/metadata`);
    expect(page).toContain('id="saml-test"');
    const events = await t.services.db
      .selectFrom('security_events')
      .select(['kind', 'actor_user_id'])
      .where('organization_id', '=', org.organizationId)
      .execute();
    expect(events).toContainEqual({ kind: 'saml_config_updated', actor_user_id: org.admin.id });

    // The same entity id for another organization: 409, nothing saved there.
    const again = new FormData();
    again.append('_csrf', rivalAdmin['x-csrf-token']!);
    again.append('metadataXml', metadata('https://idp.example/metadata/1', certificatePem));
    const clash = await t.app.request('/admin/sign-in/saml', { method: 'POST', headers: { cookie: rivalAdmin.cookie!, ...html }, body: again });
    expect(clash.status).toBe(409);
    const broken = new FormData();
    broken.append('_csrf', admin['x-csrf-token']!);
    broken.append('metadataXml', '<!DOCTYPE x [<!ENTITY a "b">]><x/>');
    const refused = await t.app.request('/admin/sign-in/saml', { method: 'POST', headers: { cookie: admin.cookie!, ...html }, body: broken });
    expect(refused.status).toBe(400);
    expect(await codeOf(refused)).toBe('metadata_invalid');
    expect((await t.services.db.selectFrom('saml_configs').select('entity_id').where('organization_id', '=', rival.organizationId).execute()).length).toBe(0);
  });

  it('switches a platform off and on, and refuses an unknown one', async () => {
    const off = await post(admin, '/admin/platforms/ical', { enabled: 'no', existingConnections: 'pause' });
    expect(off.status).toBe(303);
    const settings = async (id: string) =>
      (await t.services.db.selectFrom('organizations').select('settings').where('id', '=', id).executeTakeFirstOrThrow()).settings.disabledPlatforms ?? [];
    expect(await settings(org.organizationId)).toContain('ical');
    expect(await settings(rival.organizationId)).not.toContain('ical');
    expect(await (await get(admin, '/admin/platforms')).text()).toContain('data-platform-state="off"');
    expect((await post(admin, '/admin/platforms/ical', { enabled: 'yes' })).status).toBe(303);
    expect(await settings(org.organizationId)).not.toContain('ical');
    expect((await post(admin, '/admin/platforms/nope', { enabled: 'no' })).status).toBe(404);
    expect((await post(admin, '/admin/platforms/ical', { enabled: 'maybe' })).status).toBe(400);
  });

  it('ends a user’s sessions (recorded), and not another organization’s user', async () => {
    const session = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    expect((await get(session, '/apps')).status).toBe(200);
    expect((await post(rivalAdmin, `/admin/users/${org.member.id}/end-sessions`, {})).status).toBe(404);
    expect((await get(session, '/apps')).status).toBe(200);
    const res = await post(admin, `/admin/users/${org.member.id}/end-sessions`, {});
    expect(res.status).toBe(303);
    expect((await get(session, '/apps')).status).toBe(302);
    const events = await (await get(admin, '/admin/security-events?kind=session_ended_by_admin')).text();
    expect(events).toContain('session ended by admin');
    expect(events).toContain(org.member.email);
    expect(await (await get(rivalAdmin, '/admin/security-events')).text()).not.toContain(org.member.email);
    expect((await get(admin, '/admin/security-events?outcome=maybe')).status).toBe(400);
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
  });

  it('searches and exports the transfer log, and reports by e-mail, within the organization only', async () => {
    // A contact with an e-mail address, and transfer rows about it (written as the gate writes them).
    const contact = await t.services.db
      .insertInto('contacts')
      .values({
        organization_id: org.organizationId,
        external_id: 'ct-1',
        case_id: null,
        name: 'Pat Client',
        emails: JSON.stringify(['Pat@Client.example']),
        phones: JSON.stringify([]),
        organization_name: null,
        role: 'client',
        created_at: new Date(),
        updated_at: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const intentId = randomUUID();
    const row = (outcome: 'intent' | 'sent'): TransferLogEntry => ({
      id: outcome === 'intent' ? intentId : randomUUID(),
      organizationId: org.organizationId,
      direction: 'outbound',
      userId: org.member.id,
      connectionId: null,
      platform: 'google_calendar',
      recipientAccount: 'pat-recipient@gmail.example',
      recipientDestination: 'cal-1',
      subjects: { caseIds: ['case-1'], contactIds: [contact.id] },
      categories: ['calendar.events'],
      fieldNames: ['title'],
      purpose: 'calendar_sync',
      consentId: null,
      consentVersion: null,
      payloadSha256: 'ab'.repeat(32),
      payloadBytes: 17,
      actor: { kind: 'job', jobId: 'j1', queue: 'sync' },
      operation: 'create',
      itemKey: 'event:e1',
      intentId: outcome === 'intent' ? null : intentId,
      outcome,
      providerStatus: outcome === 'sent' ? 200 : null,
      remoteId: null,
      durationMs: null,
      reason: null,
      errorClass: null,
      errorMessage: null,
      requesterIp: null,
      requesterUserAgent: null,
      createdAt: new Date(),
    });
    const writer = new TransferLogWriter(t.services.db);
    await writer.append([row('intent')]);
    await writer.append([row('sent')]);
    const search = await get(admin, `/admin/transfers?platform=google_calendar&user=${org.member.id}`);
    expect(search.status).toBe(200);
    const found = await search.text();
    expect(found.match(/pat-recipient@gmail\.example/g)).toHaveLength(2);
    expect(await (await get(rivalAdmin, '/admin/transfers')).text()).not.toContain('pat-recipient@gmail.example');
    expect((await get(admin, '/admin/transfers?from=yesterday')).status).toBe(400);
    const csv = await get(admin, '/admin/transfers/export?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,seq,created_at/);
    expect(lines).toHaveLength(3);
    const json = await get(admin, '/admin/transfers/export?format=json');
    const exported = JSON.parse(await json.text()) as Array<{ outcome: string; recipient: { account: string } }>;
    expect(exported.map((e) => [e.outcome, e.recipient.account])).toEqual([
      ['intent', 'pat-recipient@gmail.example'],
      ['sent', 'pat-recipient@gmail.example'],
    ]);

    const report = await get(admin, '/admin/access?email=pat@client.example');
    expect(report.status).toBe(200);
    const text = await report.text();
    expect(text).toContain('1 case contact: Pat Client');
    expect(text).toContain('Google Calendar pat-recipient@gmail.example (cal-1): 1 transfer');
    expect(text).toContain('data-transfers="1"');
    // Another organization knows nobody by that address.
    expect(await (await get(rivalAdmin, '/admin/access?email=pat@client.example')).text()).toContain('0 case contacts');
    expect((await get(admin, '/admin/access?email=not-an-address')).status).toBe(400);
    const audit = await t.services.db.selectFrom('audit_log').select(['action', 'target']).where('organization_id', '=', org.organizationId).execute();
    expect(audit).toContainEqual({ action: 'subject_access.report', target: 'email:pat@client.example' });
    expect(audit).toContainEqual({ action: 'transfers.export', target: 'organization' });
    expect(contact.id).toBeTruthy();
  });

  it('shows a member their own access report', async () => {
    const res = await get(member, '/shared/access');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('Your access report');
    expect(page).toContain('1 item sent to Google Calendar pat-recipient@gmail.example');
    expect(page).toContain(`What the records hold about ${org.member.email}`);
  });

  it('escapes what the sign-in pages show (hono/jsx, no hand-written escaping)', async () => {
    await t.services.db.updateTable('organizations').set({ name: '<script>alert(1)</script> & Co' }).where('id', '=', rival.organizationId).execute();
    const res = await t.app.request(`/login?org=${rival.organizationId}&error=oidc_state_missing`);
    const page = await res.text();
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co');
    expect(page).not.toContain('<script>alert(1)');
    expect(page).toContain('data-error-code="oidc_state_missing"');
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });
});
