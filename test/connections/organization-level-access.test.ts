import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAuthorization } from '../../src/connections/oauth.ts';
import { updateConnectionSettings } from '../../src/connections/service.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * An organization-level connection (iManage: the firm's server, connected once for everyone) is
 * managed by any administrator of its organization, not only the one who connected it: settings,
 * signing in again, disconnecting — through the domain, the API and the pages alike. A member gets
 * 403 `admin_required`; an administrator of another organization 404, as for an id that never
 * existed. A user-level connection stays its owner's alone.
 */

const html = { accept: 'text/html' };

describe('organization-level connections: any administrator of the organization manages them', () => {
  let t: TestServices;
  let org: SeededOrg;
  let other: SeededOrg;
  let connector: Record<string, string>;
  let secondAdmin: Record<string, string>;
  let secondAdminId: string;
  let member: Record<string, string>;
  let outsider: Record<string, string>;

  const newConnection = async (platform: string, userId: string, status: 'active' | 'reauth_required' = 'active') =>
    (
      await t.services.db
        .insertInto('connections')
        .values({
          organization_id: org.organizationId,
          user_id: userId,
          platform,
          status,
          settings: JSON.stringify(platform === 'imanage' ? { host: 'https://93.184.215.14', libraryId: 'ACTIVE' } : {}),
          last_error: 'null',
          sync_progress: 'null',
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const settingsOf = async (id: string) =>
    (await t.services.db.selectFrom('connections').select('settings').where('id', '=', id).executeTakeFirstOrThrow()).settings as Record<string, unknown>;
  const api = (h: Record<string, string>, method: string, path: string, body?: unknown) =>
    t.app.request(path, {
      method,
      headers: { ...h, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const page = (h: Record<string, string>, path: string, body: Record<string, string>) =>
    t.app.request(path, {
      method: 'POST',
      headers: { cookie: h.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: new URLSearchParams({ ...body, _csrf: h['x-csrf-token']! }).toString(),
    });
  const codeOf = async (res: Response) => {
    const text = await res.text();
    return /data-error-code="([a-z_]+)"/.exec(text)?.[1] ?? (JSON.parse(text) as { error?: { code?: string }; code?: string }).error?.code;
  };

  beforeAll(async () => {
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services, 'Org Level Access Firm');
    other = await seedOrg(t.services, 'Org Level Other Firm');
    const second = await t.services.db
      .insertInto('users')
      .values({ organization_id: org.organizationId, email: 'second@org-level.example', name: 'Sam Second', role: 'admin', picture_url: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    secondAdminId = second.id;
    connector = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    secondAdmin = await signInAs(t.services, { id: second.id, organizationId: org.organizationId, role: 'admin' });
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    outsider = await signInAs(t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    // The firm's OAuth client, which signing in again needs.
    const client = await page(connector, '/imanage/client', { clientId: 'firm-client-id', clientSecret: 'firm-secret-value-123' });
    expect(client.status).toBe(303);
  }, 60_000);
  afterAll(async () => t?.cleanup());

  it('domain: another administrator changes the settings; a member is admin_required; another organization is not_found', async () => {
    const id = await newConnection('imanage', org.admin.id);
    const principal = (userId: string, organizationId: string, role: 'admin' | 'member') => ({
      kind: 'user' as const,
      userId,
      organizationId,
      role,
      sessionId: 'test',
    });
    const view = await updateConnectionSettings(t.services, {
      principal: principal(secondAdminId, org.organizationId, 'admin'),
      id,
      settings: { deletePolicy: 'mark' },
    });
    expect(view.settings.deletePolicy).toBe('mark');
    await expect(
      updateConnectionSettings(t.services, { principal: principal(org.member.id, org.organizationId, 'member'), id, settings: { deletePolicy: 'delete' } }),
    ).rejects.toMatchObject({ code: 'admin_required' });
    await expect(
      updateConnectionSettings(t.services, { principal: principal(other.admin.id, other.organizationId, 'admin'), id, settings: { deletePolicy: 'delete' } }),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect((await settingsOf(id)).deletePolicy).toBe('mark');
  });

  it('API: PATCH by another administrator applies; a member gets 403 admin_required; another organization 404', async () => {
    const id = await newConnection('imanage', org.admin.id);
    const byMember = await api(member, 'PATCH', `/v1/connections/${id}`, { settings: { deletePolicy: 'delete' } });
    expect(byMember.status).toBe(403);
    expect(await codeOf(byMember)).toBe('admin_required');
    const byOutsider = await api(outsider, 'PATCH', `/v1/connections/${id}`, { settings: { deletePolicy: 'delete' } });
    expect(byOutsider.status).toBe(404);
    expect((await settingsOf(id)).deletePolicy).toBeUndefined();
    const bySecond = await api(secondAdmin, 'PATCH', `/v1/connections/${id}`, { settings: { deletePolicy: 'mark' } });
    expect(bySecond.status, await bySecond.clone().text()).toBe(200);
    expect((await settingsOf(id)).deletePolicy).toBe('mark');
  });

  it('API: another administrator signs in again for the connection, and the callback is theirs', async () => {
    const id = await newConnection('imanage', org.admin.id, 'reauth_required');
    const byMember = await api(member, 'POST', `/v1/connections/${id}/reconnect`);
    expect(byMember.status).toBe(403);
    expect(await codeOf(byMember)).toBe('admin_required');
    expect((await api(outsider, 'POST', `/v1/connections/${id}/reconnect`)).status).toBe(404);
    const bySecond = await api(secondAdmin, 'POST', `/v1/connections/${id}/reconnect`);
    expect(bySecond.status, await bySecond.clone().text()).toBe(200);
    const { authorizationUrl } = (await bySecond.json()) as { authorizationUrl: string };
    expect(new URL(authorizationUrl).searchParams.get('client_id')).toBe('firm-client-id');
    // The pending authorization belongs to the administrator who started it, not to the connector.
    const state = new URL(authorizationUrl).searchParams.get('state')!;
    const consumed = await consumeAuthorization(t.services, { state, sessionId: secondAdmin.cookie!.split('=')[1]! });
    expect(consumed.ok && consumed.pending.userId).toBe(secondAdminId);
    expect(consumed.ok && consumed.pending.connectionId).toBe(id);
  });

  it('API: a member cannot disconnect it (403), another organization gets 404, another administrator can (202)', async () => {
    const id = await newConnection('imanage', org.admin.id);
    const byMember = await api(member, 'DELETE', `/v1/connections/${id}`);
    expect(byMember.status).toBe(403);
    expect(await codeOf(byMember)).toBe('admin_required');
    expect((await api(outsider, 'DELETE', `/v1/connections/${id}`)).status).toBe(404);
    expect(
      await t.services.db
        .selectFrom('revocations')
        .select('id')
        .where(sql<boolean>`connection_ids @> ${JSON.stringify([id])}::jsonb`)
        .execute(),
    ).toEqual([]);
    const bySecond = await api(secondAdmin, 'DELETE', `/v1/connections/${id}`);
    expect(bySecond.status, await bySecond.clone().text()).toBe(202);
    const rev = await t.services.db
      .selectFrom('revocations')
      .select(['requested_by', 'reason'])
      .where(sql<boolean>`connection_ids @> ${JSON.stringify([id])}::jsonb`)
      .execute();
    expect(rev).toHaveLength(1);
    expect(rev[0]!.requested_by).toMatchObject({ kind: 'user', userId: secondAdminId });
    expect(rev[0]!.reason).toBe('disconnected by an administrator');
  });

  it('pages: another administrator sees the controls, saves settings and disconnects; a member 403; another organization 404', async () => {
    const id = await newConnection('imanage', org.admin.id);
    const status = await t.app.request('/imanage', { headers: { cookie: secondAdmin.cookie!, ...html } });
    const body = await status.text();
    expect(body).toContain(`action="/imanage/${id}/settings"`);
    expect(body).toContain(`href="/apps/${id}/disconnect"`);
    const byMember = await page(member, `/imanage/${id}/settings`, { deletePolicy: 'delete' });
    expect(byMember.status).toBe(403);
    expect(await codeOf(byMember)).toBe('admin_required');
    expect((await page(outsider, `/imanage/${id}/settings`, { deletePolicy: 'delete' })).status).toBe(404);
    const saved = await page(secondAdmin, `/imanage/${id}/settings`, { deletePolicy: 'mark' });
    expect(saved.status).toBe(303);
    expect((await settingsOf(id)).deletePolicy).toBe('mark');
    const memberDisconnect = await page(member, `/apps/${id}/disconnect`, { remote: 'keep' });
    expect(memberDisconnect.status).toBe(403);
    expect(await codeOf(memberDisconnect)).toBe('admin_required');
    expect((await page(outsider, `/apps/${id}/disconnect`, { remote: 'keep' })).status).toBe(404);
    const disconnected = await page(secondAdmin, `/apps/${id}/disconnect`, { remote: 'keep' });
    expect(disconnected.status).toBe(303);
    expect(disconnected.headers.get('location')).toMatch(/^\/receipts\//);
  });

  it('a user-level connection stays its owner’s: another administrator gets 404 for settings, reconnect and disconnect', async () => {
    const id = await newConnection('google_calendar', org.member.id);
    expect((await api(secondAdmin, 'PATCH', `/v1/connections/${id}`, { settings: { calendarName: 'X' } })).status).toBe(404);
    expect((await api(secondAdmin, 'POST', `/v1/connections/${id}/reconnect`)).status).toBe(404);
    expect((await api(secondAdmin, 'DELETE', `/v1/connections/${id}`)).status).toBe(404);
  });
});
