import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.ts';
import { grantConsent } from '../../src/consent/service.ts';
import { decodeTimeIdCursor, encodeKeysetCursor, encodeTimeIdCursor } from '../../src/db/page-cursor.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The lists that used to answer one page with `nextCursor: null` — users, a user's sessions, the
 * consent history (both routes), domain claims, platforms, iCal feeds — page with `cursor`/`limit`
 * like every other list: each is walked page by page (ties on the sort value included), another
 * organization's rows never show, and a forged cursor or a bad limit is a 400 with a stable code.
 */

const SUPER = 'super-admin-token-for-list-pages-0123456789';

type Page = { items: Array<Record<string, unknown>>; nextCursor: string | null; error?: { code: string } };

describe('list pages', () => {
  let t: TestServices;
  let a: SeededOrg;
  let b: SeededOrg;
  let adminA: Record<string, string>;
  let memberA: Record<string, string>;
  let adminB: Record<string, string>;
  let memberB: Record<string, string>;
  let keyA: Record<string, string>;
  let keyB: Record<string, string>;
  const superAdmin = { authorization: `Bearer ${SUPER}` };
  const feedsA: string[] = [];
  let connectionA = '';

  const get = async (path: string, headers: Record<string, string>) => {
    const res = await t.app.request(path, { headers });
    return { status: res.status, body: (await res.json()) as Page };
  };

  /** Every item of a list, `limit` at a time; the number of pages. */
  const walk = async (path: string, headers: Record<string, string>, limit: number) => {
    const items: Array<Record<string, unknown>> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const { status, body } = await get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers);
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(limit);
      items.push(...body.items);
      cursor = body.nextCursor;
      pages++;
      expect(pages).toBeLessThan(50);
    } while (cursor);
    return { items, pages };
  };

  const feedBody = (name: string) => JSON.stringify({ name, categories: ['calendar.events'], caseScope: { kind: 'all' } });
  const createFeedAs = async (headers: Record<string, string>, name: string) => {
    const res = await t.app.request('/v1/ical-feeds', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: feedBody(name) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { feed: { id: string } }).feed.id;
  };

  beforeAll(async () => {
    t = await createTestServices({ SUPER_ADMIN_TOKEN: SUPER });
    a = await seedOrg(t.services, 'Paging LLP');
    b = await seedOrg(t.services, 'Elsewhere LLP');
    adminA = await signInAs(t.services, { id: a.admin.id, organizationId: a.organizationId, role: 'admin' });
    memberA = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
    adminB = await signInAs(t.services, { id: b.admin.id, organizationId: b.organizationId, role: 'admin' });
    memberB = await signInAs(t.services, { id: b.member.id, organizationId: b.organizationId, role: 'member' });
    keyA = bearer((await createApiKey(t.services.db, { organizationId: a.organizationId, name: 'read', scopes: ['connections:read'] })).apiKey);
    keyB = bearer((await createApiKey(t.services.db, { organizationId: b.organizationId, name: 'read', scopes: ['connections:read'] })).apiKey);

    // Users: five more in A (seven in all), two more in B.
    await t.services.db
      .insertInto('users')
      .values([
        ...[0, 1, 2, 3, 4].map((i) => ({ organization_id: a.organizationId, email: `user${i}@paging.example`, name: `User ${i}`, role: 'member' as const })),
        ...[0, 1].map((i) => ({ organization_id: b.organizationId, email: `user${i}@elsewhere.example`, name: `Other ${i}`, role: 'member' as const })),
      ])
      .execute();

    // iCal feeds: five of A's member, three made at one instant (microseconds apart, one millisecond);
    // one of A's admin and one of B's member that A's member must never see.
    for (let i = 0; i < 5; i++) feedsA.push(await createFeedAs(memberA, `Feed ${i}`));
    await createFeedAs(adminA, 'Admin feed');
    await createFeedAs(memberB, 'Elsewhere feed');
    const instants = ['2026-04-01T10:00:00.000100Z', '2026-04-01T10:00:00.000900Z', '2026-04-01T10:00:00.000500Z'];
    for (const [i, at] of instants.entries()) {
      await t.services.db
        .updateTable('ical_feeds')
        .set({ created_at: sql`${at}::timestamptz` })
        .where('id', '=', feedsA[i]!)
        .execute();
    }

    // Consent history: the first feed's connection gets versions 2–6 (version 1 came with the feed).
    const feed = await t.services.db.selectFrom('ical_feeds').select('connection_id').where('id', '=', feedsA[0]!).executeTakeFirstOrThrow();
    connectionA = feed.connection_id;
    for (let v = 2; v <= 6; v++) {
      await grantConsent(t.services.db, {
        connectionId: connectionA,
        organizationId: a.organizationId,
        grantedBy: a.member.id,
        categories: ['calendar.events'],
        caseScope: { kind: 'all' },
        method: 'api',
      });
    }

    // Domain claims of both organizations, four at one instant (microseconds apart).
    const claim = (domain: string, org: SeededOrg, at: string, status: 'pending' | 'verified' = 'pending') => ({
      domain,
      organization_id: org.organizationId,
      status,
      created_at: sql<Date>`${at}::timestamptz`,
    });
    await t.services.db
      .insertInto('google_domains')
      .values([
        claim('zeta.example', a, '2026-03-01T09:00:00.000700Z'),
        claim('alpha.example', b, '2026-03-01T09:00:00.000200Z'),
        claim('mid.example', a, '2026-03-01T09:00:00.000000Z', 'verified'),
        claim('beta.example', a, '2026-03-01T09:00:00.000999Z'),
        claim('early.example', b, '2026-02-01T09:00:00Z'),
        claim('late.example', a, '2026-05-01T09:00:00Z', 'verified'),
      ])
      .execute();
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await t?.cleanup();
  });

  it('keeps the (time, id) cursors this API has always returned', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const id = '0b7e5b9e-2f4c-4a51-9d0e-6f1c1d2b3a4f';
    const old = Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
    expect(encodeTimeIdCursor(at, id)).toBe(old);
    expect(decodeTimeIdCursor(old)).toEqual({ at, id });
    expect(decodeTimeIdCursor(encodeKeysetCursor(7, id))).toBeNull();
  });

  it('pages the users by e-mail address, only the organization’s own', async () => {
    const { items, pages } = await walk('/v1/admin/users', adminA, 3);
    expect(pages).toBe(3);
    const emails = items.map((u) => u.email as string);
    expect(emails).toHaveLength(7);
    expect(new Set(emails)).toEqual(new Set([a.admin.email, a.member.email, ...[0, 1, 2, 3, 4].map((i) => `user${i}@paging.example`)]));
    expect(emails.filter((e) => e.startsWith('user'))).toEqual([0, 1, 2, 3, 4].map((i) => `user${i}@paging.example`));
    expect((await get('/v1/admin/users', adminA)).body.items.map((u) => u.email)).toEqual(emails);
    expect((await walk('/v1/admin/users', adminB, 2)).items.map((u) => u.email)).not.toContain(a.admin.email);
  });

  it('pages a user’s sessions newest first, the handle breaking a tie of the same instant', async () => {
    const user = { userId: a.member.id, organizationId: a.organizationId, role: 'member' as const };
    const instant = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const now = vi.spyOn(Date, 'now').mockReturnValue(instant);
    for (let i = 0; i < 3; i++) await t.services.sessions.create({ ...user, method: 'test' });
    now.mockReturnValue(instant + 5000);
    await t.services.sessions.create({ ...user, method: 'test' });
    // A session naming another organization for this user id is never listed.
    await t.services.sessions.create({ ...user, organizationId: b.organizationId, method: 'test' });
    now.mockRestore();

    const path = `/v1/admin/users/${a.member.id}/sessions`;
    const { items, pages } = await walk(path, adminA, 2);
    expect(pages).toBe(3); // memberA's own session, from signInAs, and the four above
    const keyed = items.map((s) => `${s.createdAt as string}|${s.handle as string}`);
    expect(new Set(keyed).size).toBe(5);
    expect(keyed).toEqual([...keyed].sort().reverse());
    expect(keyed.filter((k) => k.startsWith(new Date(instant).toISOString()))).toHaveLength(3);
    expect((await get(path, adminA)).body.items.map((s) => s.handle)).toEqual(items.map((s) => s.handle));
    expect((await get(path, adminB)).status).toBe(404);
  });

  it('pages the consent history by version, on both routes, and hides it from another organization', async () => {
    const expected = [6, 5, 4, 3, 2, 1];
    const own = await walk(`/v1/connections/${connectionA}/consents`, memberA, 4);
    expect(own.pages).toBe(2);
    expect(own.items.map((c) => c.version)).toEqual(expected);
    const viaKey = await walk(`/v1/users/${encodeURIComponent(a.member.email)}/connections/${connectionA}/consents`, keyA, 2);
    expect(viaKey.pages).toBe(3);
    expect(viaKey.items.map((c) => c.version)).toEqual(expected);
    expect((await get(`/v1/connections/${connectionA}/consents`, adminB)).status).toBe(404);
    expect((await get(`/v1/users/${encodeURIComponent(a.member.email)}/connections/${connectionA}/consents`, keyB)).status).toBe(404);
  });

  it('pages the domain claims oldest first, the domain breaking a tie within one millisecond', async () => {
    const { items, pages } = await walk('/v1/super-admin/domains', superAdmin, 2);
    expect(pages).toBe(3);
    expect(items.map((c) => c.domain)).toEqual(['early.example', 'alpha.example', 'beta.example', 'mid.example', 'zeta.example', 'late.example']);
    const pending = await walk('/v1/super-admin/domains?status=pending', superAdmin, 1);
    expect(pending.items.map((c) => c.domain)).toEqual(['early.example', 'alpha.example', 'beta.example', 'zeta.example']);
  });

  it('pages the platforms by id, with this organization’s switches only', async () => {
    await t.services.db
      .updateTable('organizations')
      .set({ settings: JSON.stringify({ disabledPlatforms: ['ical'] }) })
      .where('id', '=', b.organizationId)
      .execute();
    const { items, pages } = await walk('/v1/admin/platforms', adminA, 1);
    const ids = items.map((p) => p.platform as string);
    expect(pages).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(1);
    expect(ids).toEqual([...ids].sort());
    expect(items.every((p) => p.enabled === true)).toBe(true);
    expect((await walk('/v1/admin/platforms', adminB, 3)).items.find((p) => p.platform === 'ical')?.enabled).toBe(false);
  });

  it('pages the iCal feeds newest first, ties within one millisecond included, never another user’s', async () => {
    const { items, pages } = await walk('/v1/ical-feeds', memberA, 2);
    expect(pages).toBe(3);
    const ids = items.map((f) => f.id as string);
    // Feeds 3 and 4 are newer (now); 0–2 share 2026-04-01T10:00:00.000Z and go by id, descending.
    expect(new Set(ids.slice(0, 2))).toEqual(new Set([feedsA[3], feedsA[4]]));
    expect(ids.slice(2)).toEqual([feedsA[0]!, feedsA[1]!, feedsA[2]!].sort().reverse());
    expect(items.slice(2).every((f) => f.createdAt === '2026-04-01T10:00:00.000Z')).toBe(true);

    await t.services.db.updateTable('ical_feeds').set({ revoked_at: new Date() }).where('id', '=', feedsA[1]!).execute();
    expect((await walk('/v1/ical-feeds', memberA, 2)).items.map((f) => f.id)).not.toContain(feedsA[1]);
    expect((await walk('/v1/ical-feeds?includeRevoked=true', memberA, 2)).items.map((f) => f.id)).toEqual(ids);
    expect((await walk('/v1/ical-feeds', memberB, 2)).items.map((f) => f.name)).toEqual(['Elsewhere feed']);
  });

  it('answers a forged cursor, another list’s cursor or a bad limit with a 400 and a stable code', async () => {
    const userCursor = encodeKeysetCursor('admin@paging-llp.example', a.admin.id);
    const lists: Array<[string, Record<string, string>]> = [
      ['/v1/admin/users', adminA],
      [`/v1/admin/users/${a.member.id}/sessions`, adminA],
      [`/v1/connections/${connectionA}/consents`, memberA],
      [`/v1/users/${a.member.id}/connections/${connectionA}/consents`, keyA],
      ['/v1/super-admin/domains', superAdmin],
      ['/v1/admin/platforms', adminA],
      ['/v1/ical-feeds', memberA],
    ];
    const forged = [
      'not-a-cursor',
      encodeKeysetCursor(2_147_483_648, '0b7e5b9e-2f4c-4a51-9d0e-6f1c1d2b3a4f'),
      encodeKeysetCursor('a\u0000b', '0b7e5b9e-2f4c-4a51-9d0e-6f1c1d2b3a4f'),
      Buffer.from('#3|').toString('base64url'),
    ];
    for (const [path, headers] of lists) {
      for (const cursor of forged) {
        const res = await get(`${path}?cursor=${encodeURIComponent(cursor)}`, headers);
        expect(res.status, `${path} ${cursor}`).toBe(400);
        expect(res.body.error?.code).toBe('invalid_cursor');
      }
      // A users cursor is (string, UUID); the platforms' is (string, id), which a UUID also is.
      if (path !== '/v1/admin/users' && path !== '/v1/admin/platforms')
        expect((await get(`${path}?cursor=${userCursor}`, headers)).body.error?.code, path).toBe('invalid_cursor');
      for (const limit of ['0', '201', 'x', '1.5']) {
        const res = await get(`${path}?limit=${limit}`, headers);
        expect(res.status, `${path} limit=${limit}`).toBe(400);
        expect(res.body.error?.code).toBe('validation_failed');
      }
    }
  });
});
