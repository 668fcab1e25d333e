import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { icalConnector } from '../../connectors/ical/index.ts';
import { createApp } from '../../src/api/app.ts';
import { withdrawConsents } from '../../src/consent/service.ts';
import { redisKey } from '../../src/redis.ts';
import { revokeContextFor } from '../../src/revocation/revoke-context.ts';
import type { OutboundGateImpl } from '../../src/transfers/gate.ts';
import { verifyTransferLog } from '../../src/transfers/verify.ts';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { contentLines, localDate, parsedEvents, parseFeed, veventBlocks } from './support.ts';

const PEER = { incoming: { socket: { remoteAddress: '203.0.113.9' } } };
const UA = 'TestCalendar/1.0 (CalDAV-ish)';

interface FeedAnswer {
  feed: {
    id: string;
    connectionId: string;
    name: string;
    tokenHint: string;
    status: string;
    categories: string[];
    caseScope: unknown;
    fetchCount: number;
    lastFetchedAt: string | null;
    rotatedAt: string | null;
  };
  url: string;
}

describe('iCal feeds', () => {
  let t: TestServices;
  let a: SeededOrg;
  let b: SeededOrg;
  let member: Record<string, string>;
  let admin: Record<string, string>;
  let otherOrgMember: Record<string, string>;
  const caseIds: Record<string, string> = {};
  const eventIds: Record<string, string> = {};

  const ingest = async (org: SeededOrg, path: string, body: unknown) => {
    const res = await t.app.request(path, {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect([200, 201]).toContain(res.status);
    return (await res.json()) as { id: string; version: number };
  };

  const create = async (headers: Record<string, string>, body: unknown) =>
    t.app.request('/v1/ical-feeds', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const newFeed = async (body: Partial<{ name: string; categories: string[]; caseScope: unknown }> = {}, headers = member): Promise<FeedAnswer> => {
    const res = await create(headers, { name: 'My cases', categories: ['calendar.events'], caseScope: { kind: 'all' }, ...body });
    expect(res.status).toBe(201);
    return (await res.json()) as FeedAnswer;
  };

  const pathOf = (url: string) => new URL(url).pathname;
  const fetchFeed = (url: string, headers: Record<string, string> = {}) => t.app.request(pathOf(url), { headers: { 'user-agent': UA, ...headers } }, PEER);

  const logRows = (connectionId: string) =>
    t.services.db.selectFrom('transfer_log').selectAll().where('connection_id', '=', connectionId).orderBy('seq').execute();

  beforeAll(async () => {
    t = await createTestServices({ ICAL_RATE_LIMIT_PER_MINUTE: '10000' });
    a = await seedOrg(t.services, 'Alpha Law');
    b = await seedOrg(t.services, 'Beta Law');
    member = await signInAs(t.services, { id: a.member.id, organizationId: a.organizationId, role: 'member' });
    admin = await signInAs(t.services, { id: a.admin.id, organizationId: a.organizationId, role: 'admin' });
    otherOrgMember = await signInAs(t.services, { id: b.member.id, organizationId: b.organizationId, role: 'member' });

    caseIds.a1 = (await ingest(a, '/v1/ingest/cases/a1', { number: 'PI-2026-1', title: 'Miller v. Eastside', assignees: [a.member.email] })).id;
    caseIds.a2 = (await ingest(a, '/v1/ingest/cases/a2', { number: 'PI-2026-2', title: 'Doe v. Roe', assignees: [a.member.email, a.admin.email] })).id;
    caseIds.a3 = (await ingest(a, '/v1/ingest/cases/a3', { number: 'PI-2026-3', title: 'Admin only', assignees: [a.admin.email] })).id;
    caseIds.b1 = (await ingest(b, '/v1/ingest/cases/b1', { number: 'B-1', title: 'Other firm', assignees: [b.member.email, a.member.email] })).id;
    eventIds.hearing = (
      await ingest(a, '/v1/ingest/events/hearing', {
        caseExternalId: 'a1',
        kind: 'court_date',
        title: 'Hearing, room 4; bring exhibits',
        description: 'Strategy: settle before trial',
        location: 'County Court, Room 4',
        start: '2026-03-29T00:30:00Z',
        end: '2026-03-29T02:30:00Z',
        timeZone: 'Europe/Berlin',
        participants: [{ name: 'Jane Witness' }, { name: 'Opposing Counsel' }],
      })
    ).id;
    eventIds.deadline = (
      await ingest(a, '/v1/ingest/events/deadline', {
        caseExternalId: 'a2',
        kind: 'deadline',
        title: 'Filing deadline',
        allDay: true,
        startDate: '2026-03-08',
        endDate: '2026-03-09',
      })
    ).id;
    eventIds.adminOnly = (
      await ingest(a, '/v1/ingest/events/admin-only', {
        caseExternalId: 'a3',
        kind: 'meeting',
        title: 'Admin meeting',
        start: '2026-04-01T09:00:00Z',
        end: '2026-04-01T10:00:00Z',
        timeZone: 'UTC',
      })
    ).id;
    eventIds.otherFirm = (
      await ingest(b, '/v1/ingest/events/b-ev', {
        caseExternalId: 'b1',
        kind: 'meeting',
        title: 'Other firm meeting',
        start: '2026-04-01T09:00:00Z',
        end: '2026-04-01T10:00:00Z',
        timeZone: 'UTC',
      })
    ).id;
  });
  afterAll(async () => t.cleanup());

  describe('managing feeds', () => {
    it('creates a feed with its connection and consent, returns the URL once and stores only the token hash', async () => {
      const res = await create(member, { name: 'All my cases', categories: ['calendar.events', 'calendar.events.details'], caseScope: { kind: 'all' } });
      expect(res.status).toBe(201);
      const created = (await res.json()) as FeedAnswer;
      const match = /^http:\/\/localhost:3000\/ical\/([A-Za-z0-9_-]{43})\.ics$/.exec(created.url);
      expect(match).not.toBeNull();
      const token = match![1]!;
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(created.feed).toMatchObject({ name: 'All my cases', tokenHint: token.slice(0, 6), status: 'active', caseScope: { kind: 'all' }, fetchCount: 0 });

      const row = await t.services.db.selectFrom('ical_feeds').selectAll().where('id', '=', created.feed.id).executeTakeFirstOrThrow();
      expect(row.token_hash).toBe(createHash('sha256').update(token).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(token);
      const connection = await t.services.db.selectFrom('connections').selectAll().where('id', '=', row.connection_id).executeTakeFirstOrThrow();
      expect(connection).toMatchObject({
        platform: 'ical',
        status: 'active',
        external_account: null,
        settings: { feedName: 'All my cases' },
        user_id: a.member.id,
      });
      const consent = await t.services.db.selectFrom('consents').selectAll().where('connection_id', '=', row.connection_id).executeTakeFirstOrThrow();
      expect(consent).toMatchObject({
        method: 'api',
        version: 1,
        categories: ['calendar.events', 'calendar.events.details'],
        withdrawn_at: null,
        granted_by: a.member.id,
      });

      const list = await t.app.request('/v1/ical-feeds', { headers: member });
      const listed = await list.text();
      expect(listed).not.toContain(token);
      expect(JSON.parse(listed).items.map((f: { id: string }) => f.id)).toContain(created.feed.id);
    });

    it('refuses invalid input with a 4xx and writes nothing', async () => {
      const before = await t.services.db.selectFrom('connections').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      const cases: Array<[unknown, number, string]> = [
        [{ name: 'x', categories: ['calendar.events.details'], caseScope: { kind: 'all' } }, 400, 'validation_failed'],
        [{ name: 'x', categories: ['documents.files'], caseScope: { kind: 'all' } }, 400, 'validation_failed'],
        [{ name: '  ', categories: ['calendar.events'], caseScope: { kind: 'all' } }, 400, 'validation_failed'],
        [{ name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [] } }, 400, 'validation_failed'],
        [{ name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: ['not-a-uuid'] } }, 400, 'validation_failed'],
        [
          { name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: ['6f1c3a52-1d2b-4c3d-8e9f-0a1b2c3d4e5f'] } },
          404,
          'case_not_found',
        ],
        [{ name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [caseIds.b1] } }, 404, 'case_not_found'],
        [{ name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [caseIds.a1, caseIds.a3] } }, 404, 'case_not_found'],
      ];
      for (const [body, status, code] of cases) {
        const res = await create(member, body);
        expect(res.status, JSON.stringify(body)).toBe(status);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      }
      const notFound = await create(member, { name: 'x', categories: ['calendar.events'], caseScope: { kind: 'cases', caseIds: [caseIds.b1, caseIds.a1] } });
      expect(((await notFound.json()) as { error: { details: unknown } }).error.details).toEqual({ caseIds: [caseIds.b1] });
      const after = await t.services.db.selectFrom('connections').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });

    it('needs a session, and the CSRF token for changes', async () => {
      expect((await t.app.request('/v1/ical-feeds')).status).toBe(401);
      const { 'x-csrf-token': _csrf, ...cookieOnly } = member;
      const res = await create(cookieOnly, { name: 'x', categories: ['calendar.events'], caseScope: { kind: 'all' } });
      expect(res.status).toBe(403);
    });

    it('keeps feeds private to their owner: other users, of this or another organization, get 404', async () => {
      const created = await newFeed({ name: 'Private' });
      for (const headers of [admin, otherOrgMember]) {
        const list = (await (await t.app.request('/v1/ical-feeds?includeRevoked=true', { headers })).json()) as { items: Array<{ id: string }> };
        expect(list.items.map((f) => f.id)).not.toContain(created.feed.id);
        const rotate = await t.app.request(`/v1/ical-feeds/${created.feed.id}/rotate`, { method: 'POST', headers });
        expect(rotate.status).toBe(404);
        const del = await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers });
        expect(del.status).toBe(404);
      }
      expect((await fetchFeed(created.url)).status).toBe(200);
      expect((await t.app.request('/v1/ical-feeds/not-a-uuid', { method: 'DELETE', headers: member })).status).toBe(404);
    });
  });

  describe('serving a feed', () => {
    it('answers RFC 5545 that node-ical reads back: assigned cases only, the zone, the all-day dates, the headers', async () => {
      const created = await newFeed({ name: 'Court dates' });
      const res = await fetchFeed(created.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('private, max-age=300');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('last-modified')).toBeNull();
      const body = await res.text();
      expect(res.headers.get('etag')).toBe(`"sha256-${createHash('sha256').update(body).digest('hex')}"`);

      const events = parsedEvents(body);
      expect([...events.keys()].sort()).toEqual([`${eventIds.deadline}@casebridge`, `${eventIds.hearing}@casebridge`].sort());
      const hearing = events.get(`${eventIds.hearing}@casebridge`)!;
      expect(hearing.summary).toBe('[PI-2026-1] Hearing, room 4; bring exhibits');
      expect(hearing.location).toBe('County Court, Room 4');
      expect(hearing.start.toISOString()).toBe('2026-03-29T00:30:00.000Z');
      expect(hearing.end.toISOString()).toBe('2026-03-29T02:30:00.000Z');
      expect(contentLines(body)).toContain('DTSTART;TZID=Europe/Berlin:20260329T013000');
      expect(contentLines(body)).toContain('DTEND;TZID=Europe/Berlin:20260329T043000');
      const deadline = events.get(`${eventIds.deadline}@casebridge`)!;
      expect(deadline.datetype).toBe('date');
      expect(localDate(deadline.start)).toBe('2026-03-08');
      expect(localDate(deadline.end)).toBe('2026-03-10');
      const calendar = Object.values(parseFeed(body)).find((c) => c.type === 'VCALENDAR')!;
      expect(calendar).toMatchObject({ 'WR-CALNAME': 'Court dates', 'PUBLISHED-TTL': 'PT1H' });
      expect(contentLines(body)).toContain('REFRESH-INTERVAL;VALUE=DURATION:PT1H');
      expect(body).not.toContain('Admin meeting');
      expect(body).not.toContain('Other firm');
    });

    it('sends no DESCRIPTION or participant names without calendar.events.details, and both with it', async () => {
      const basic = await fetchFeed((await newFeed({ categories: ['calendar.events'] })).url);
      const basicBody = await basic.text();
      expect(
        veventBlocks(basicBody)
          .flat()
          .some((l) => l.name === 'DESCRIPTION'),
      ).toBe(false);
      expect(basicBody).not.toContain('Jane Witness');
      expect(basicBody).not.toContain('Strategy');

      const detailed = await fetchFeed((await newFeed({ categories: ['calendar.events', 'calendar.events.details'] })).url);
      const hearing = parsedEvents(await detailed.text()).get(`${eventIds.hearing}@casebridge`)!;
      expect(hearing.description).toBe('Strategy: settle before trial\n\nParticipants: Jane Witness, Opposing Counsel');
    });

    it('limits a feed to its case list', async () => {
      const created = await newFeed({ caseScope: { kind: 'cases', caseIds: [caseIds.a2] } });
      const events = parsedEvents(await (await fetchFeed(created.url)).text());
      expect([...events.keys()]).toEqual([`${eventIds.deadline}@casebridge`]);
    });

    it('never puts another organization’s events in a feed, even for a user with the same e-mail there', async () => {
      // Org B's case b1 lists a.member's e-mail as assignee; a.member's feed is scoped to org A.
      const body = await (await fetchFeed((await newFeed()).url)).text();
      expect(body).not.toContain('Other firm');
    });

    it('answers If-None-Match with 304 and no body, and logs a sent row (200) and a not_modified row (304)', async () => {
      const created = await newFeed({ categories: ['calendar.events', 'calendar.events.details'] });
      const first = await fetchFeed(created.url);
      const body = Buffer.from(await first.arrayBuffer());
      const etag = first.headers.get('etag')!;
      const second = await fetchFeed(created.url, { 'if-none-match': etag });
      expect(second.status).toBe(304);
      expect(await second.text()).toBe('');
      expect(second.headers.get('etag')).toBe(etag);
      expect((await fetchFeed(created.url, { 'if-none-match': `W/${etag}, "other"` })).status).toBe(304);
      expect((await fetchFeed(created.url, { 'if-none-match': '"sha256-stale"' })).status).toBe(200);

      const rows = await logRows(created.feed.connectionId);
      // A 200 is written ahead (intent, then sent); a 304 is one row — nothing left, nothing to write ahead of.
      expect(rows.map((r) => r.outcome)).toEqual(['intent', 'sent', 'not_modified', 'not_modified', 'intent', 'sent']);
      expect(rows[2]).toMatchObject({
        intent_id: null,
        field_names: [],
        payload_sha256: null,
        payload_bytes: 0,
        provider_status: 304,
        requester_ip: '203.0.113.9',
      });
      const outcomes = rows.filter((r) => r.outcome !== 'intent');
      const sent = outcomes[0]!;
      expect(sent).toMatchObject({
        direction: 'outbound',
        platform: 'ical',
        purpose: 'ical_feed',
        operation: 'publish',
        recipient_destination: `ical-feed:${created.feed.id}`,
        requester_ip: '203.0.113.9',
        requester_user_agent: UA,
        payload_bytes: body.length,
        provider_status: 200,
        user_id: a.member.id,
      });
      expect([...sent.subjects.eventIds!].sort()).toEqual([eventIds.hearing, eventIds.deadline].sort());
      expect([...sent.subjects.caseIds!].sort()).toEqual([caseIds.a1, caseIds.a2].sort());
      expect([...sent.field_names].sort()).toEqual(
        ['allDay', 'caseNumber', 'description', 'end', 'location', 'participantNames', 'start', 'timeZone', 'title'].sort(),
      );
      const notModified = outcomes[1]!;
      expect(notModified).toMatchObject({ subjects: {}, payload_bytes: 0, provider_status: 304, requester_ip: '203.0.113.9' });

      const list = (await (await t.app.request('/v1/ical-feeds', { headers: member })).json()) as { items: FeedAnswer['feed'][] };
      const listed = list.items.find((f) => f.id === created.feed.id)!;
      expect(listed.fetchCount).toBe(4);
      expect(listed.lastFetchedAt).not.toBeNull();
    });

    it('serves an unchanged feed from the cache and re-renders after an ingest commit (data_version)', async () => {
      const created = await newFeed({ caseScope: { kind: 'cases', caseIds: [caseIds.a1] } });
      const first = await fetchFeed(created.url);
      const etag = first.headers.get('etag')!;
      const firstBody = await first.text();
      const firstSequence = veventBlocks(firstBody)[0]!.find((l) => l.name === 'SEQUENCE')!.value;

      // A change that bypasses ingest does not move data_version: the cached rendering is served.
      await t.services.db.updateTable('case_events').set({ title: 'Changed behind our back' }).where('id', '=', eventIds.hearing!).execute();
      const cached = await fetchFeed(created.url);
      expect(cached.headers.get('etag')).toBe(etag);
      await t.services.db.updateTable('case_events').set({ title: 'Hearing, room 4; bring exhibits' }).where('id', '=', eventIds.hearing!).execute();

      // A real ingest commit does.
      await ingest(a, '/v1/ingest/events/hearing', {
        caseExternalId: 'a1',
        kind: 'court_date',
        title: 'Hearing moved to room 5',
        description: 'Strategy: settle before trial',
        location: 'County Court, Room 5',
        start: '2026-03-29T00:30:00Z',
        end: '2026-03-29T02:30:00Z',
        timeZone: 'Europe/Berlin',
        participants: [{ name: 'Jane Witness' }, { name: 'Opposing Counsel' }],
      });
      const changed = await fetchFeed(created.url, { 'if-none-match': etag });
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      const [block] = veventBlocks(await changed.text());
      expect(block!.find((l) => l.name === 'UID')!.value).toBe(`${eventIds.hearing}@casebridge`);
      expect(Number(block!.find((l) => l.name === 'SEQUENCE')!.value)).toBeGreaterThan(Number(firstSequence));
      expect(block!.find((l) => l.name === 'SUMMARY')!.value).toBe('[PI-2026-1] Hearing moved to room 5');
    });

    it('answers HEAD like GET without a body', async () => {
      const created = await newFeed();
      const get = await fetchFeed(created.url);
      await get.arrayBuffer();
      const head = await t.app.request(pathOf(created.url), { method: 'HEAD' }, PEER);
      expect(head.status).toBe(200);
      expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
      expect(await head.text()).toBe('');
    });

    it('answers 304 from a process with a cold cache (the last ETag is shared through Redis)', async () => {
      const created = await newFeed();
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      const otherProcess = createApp(t.services);
      const res = await otherProcess.request(pathOf(created.url), { headers: { 'if-none-match': etag } }, PEER);
      expect(res.status).toBe(304);
    });

    it('a process with a cold cache reads the shared ETag once per version of the feed, and answers no 304 for an older version', async () => {
      const { id: caseId } = await ingest(a, '/v1/ingest/cases/etag-case', { number: 'PI-2026-ETAG', title: 'ETag case', assignees: [a.member.email] });
      const created = await newFeed({ caseScope: { kind: 'cases', caseIds: [caseId] } });
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      const otherProcess = createApp(t.services);
      const conditional = (tag: string) => otherProcess.request(pathOf(created.url), { headers: { 'if-none-match': tag } }, PEER);
      expect((await conditional(etag)).status).toBe(304);
      // The shared copy is gone (expired, say): what the process learned for this version still answers,
      // without rendering the feed (a rendering is a transfer: an intent row and its outcome).
      await t.services.redis.del(redisKey(t.services.config.REDIS_PREFIX, 'ical', 'etag', created.feed.id));
      const before = (await logRows(created.feed.connectionId)).length;
      expect((await conditional(etag)).status).toBe(304);
      expect((await logRows(created.feed.connectionId)).slice(before).map((r) => r.outcome)).toEqual(['not_modified']);
      // An event of the feed's case changes: the learned ETag belongs to the older version and does not count.
      await ingest(a, '/v1/ingest/events/etag-event', {
        caseExternalId: 'etag-case',
        kind: 'court_date',
        title: 'Status conference',
        start: '2026-05-04T09:00:00Z',
        end: '2026-05-04T10:00:00Z',
        timeZone: 'UTC',
      });
      const changed = await conditional(etag);
      expect(changed.status).toBe(200);
      const fresh = changed.headers.get('etag')!;
      expect(fresh).not.toBe(etag);
      expect(await changed.text()).toContain('Status conference');
      expect((await conditional(fresh)).status).toBe(304);
      expect((await fetchFeed(created.url, { 'if-none-match': fresh })).status).toBe(304);
    });
  });

  describe('ending a feed', () => {
    const notFoundAnswer = async (res: Response) => ({
      status: res.status,
      body: await res.text(),
      type: res.headers.get('content-type'),
      cache: res.headers.get('cache-control'),
    });

    it('rotation: the old URL answers 404 at once, the new one works and is shown once', async () => {
      const created = await newFeed();
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      const res = await t.app.request(`/v1/ical-feeds/${created.feed.id}/rotate`, { method: 'POST', headers: member });
      expect(res.status).toBe(200);
      const rotated = (await res.json()) as FeedAnswer;
      expect(rotated.url).not.toBe(created.url);
      expect(rotated.feed.rotatedAt).not.toBeNull();
      expect(rotated.feed.tokenHint).toBe(/ical\/(.{6})/.exec(rotated.url)![1]);
      expect((await fetchFeed(created.url)).status).toBe(404);
      expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(404);
      expect((await fetchFeed(rotated.url)).status).toBe(200);
    });

    it('a conditional GET of a token already served (lease taken alongside the lookup) answers 404 at once after rotation or deletion, and writes no row', async () => {
      for (const change of ['rotate', 'delete'] as const) {
        const created = await newFeed();
        const etag = (await fetchFeed(created.url)).headers.get('etag')!;
        expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(304);
        expect((await t.app.request(pathOf(created.url), { method: 'HEAD', headers: { 'user-agent': UA } }, PEER)).status).toBe(200);
        const res =
          change === 'rotate'
            ? await t.app.request(`/v1/ical-feeds/${created.feed.id}/rotate`, { method: 'POST', headers: member })
            : await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers: member });
        expect(res.status).toBeLessThan(300);
        const before = (await logRows(created.feed.connectionId)).filter((r) => r.outcome === 'not_modified').length;
        expect(before).toBe(2);
        expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(404);
        expect((await t.app.request(pathOf(created.url), { method: 'HEAD', headers: { 'user-agent': UA } }, PEER)).status).toBe(404);
        expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(404);
        await t.services.gate.settled();
        const after = await logRows(created.feed.connectionId);
        expect(after.filter((r) => r.outcome === 'not_modified')).toHaveLength(2);
        // The new URL of a rotated feed answers as before.
        if (change === 'rotate') {
          const url = ((await res.json()) as FeedAnswer).url;
          expect((await fetchFeed(url, { 'if-none-match': etag })).status).toBe(304);
        }
      }
    });

    /** Three feeds served once (200) and polled once (304): tokens this process knows, with their ETags. */
    const knownFeeds = async () => {
      const feeds = await Promise.all([newFeed({ name: 'Poll one' }), newFeed({ name: 'Poll two' }), newFeed({ name: 'Poll three' })]);
      const etags: string[] = [];
      for (const f of feeds) {
        etags.push((await fetchFeed(f.url)).headers.get('etag')!);
        expect((await fetchFeed(f.url, { 'if-none-match': etags.at(-1)! })).status).toBe(304);
      }
      await t.services.gate.settled();
      return { feeds, etags };
    };
    const notModifiedRows = async (connectionId: string) => (await logRows(connectionId)).filter((r) => r.outcome === 'not_modified').length;

    it('polls of known feeds share one checked statement: a feed revoked behind the process’s back in the middle of the batch gets no 304 and no row, the others get theirs', async () => {
      const { feeds, etags } = await knownFeeds();
      const before = await Promise.all(feeds.map((f) => notModifiedRows(f.feed.connectionId)));
      // The token dies without an epoch bump: only the check of the row's statement can see it.
      await t.services.db.updateTable('ical_feeds').set({ revoked_at: sql`now()` }).where('id', '=', feeds[1]!.feed.id).execute();
      const log = (t.services.gate as OutboundGateImpl).log as unknown as { appendCall(p: { checks: unknown[] }): Promise<unknown> };
      const calls = vi.spyOn(log, 'appendCall');
      try {
        const statuses = await Promise.all(feeds.map(async (f, i) => (await fetchFeed(f.url, { 'if-none-match': etags[i]! })).status));
        expect(statuses).toEqual([304, 404, 304]);
        // One statement with the three checks (it inserted nothing), then one with the two that held.
        expect(calls.mock.calls.map(([p]) => p.checks.length)).toEqual([3, 2]);
      } finally {
        calls.mockRestore();
      }
      await t.services.gate.settled();
      const after = await Promise.all(feeds.map((f) => notModifiedRows(f.feed.connectionId)));
      expect(after.map((n, i) => n - before[i]!)).toEqual([1, 0, 1]);
      expect((await verifyTransferLog(t.services, { organizationId: a.organizationId })).ok).toBe(true);
    });

    it('a poll of a known feed whose data changed since is not answered from the old version (the check fails, the feed is looked up again)', async () => {
      const { feeds, etags } = await knownFeeds();
      const f = feeds[0]!;
      const before = await notModifiedRows(f.feed.connectionId);
      await ingest(a, '/v1/ingest/events/poll-change', {
        caseExternalId: 'a1',
        kind: 'court_date',
        title: 'Added while polled',
        start: '2026-04-01T09:00:00Z',
        end: '2026-04-01T10:00:00Z',
        timeZone: 'UTC',
      });
      const res = await fetchFeed(f.url, { 'if-none-match': etags[0]! });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Added while polled');
      const etag = res.headers.get('etag')!;
      expect(etag).not.toBe(etags[0]);
      expect((await fetchFeed(f.url, { 'if-none-match': etags[0]! })).status).toBe(200);
      expect((await fetchFeed(f.url, { 'if-none-match': etag })).status).toBe(304);
      await t.services.gate.settled();
      expect(await notModifiedRows(f.feed.connectionId)).toBe(before + 1);
    });

    it('a database error fails the whole batch of polls with 503 and writes nothing of it', async () => {
      const { feeds, etags } = await knownFeeds();
      const before = await Promise.all(feeds.map((f) => notModifiedRows(f.feed.connectionId)));
      const head = await t.services.db.selectFrom('transfer_log_heads').selectAll().where('organization_id', '=', a.organizationId).executeTakeFirstOrThrow();
      // The statement inserts the batch's rows, then the connection fails: the whole statement is undone.
      const signature = 'uuid, bigint, text, bigint, text, jsonb, jsonb, boolean, jsonb';
      await sql
        .raw(`ALTER FUNCTION casebridge_transfer_log_append_checked(${signature}) RENAME TO casebridge_transfer_log_append_checked_real`)
        .execute(t.services.db);
      await sql
        .raw(`CREATE FUNCTION casebridge_transfer_log_append_checked(a uuid, b bigint, c text, d bigint, e text, f jsonb, g jsonb, h boolean, i jsonb)
        RETURNS TABLE (inserted integer, head_seq bigint, head_hash text, failed_checks integer[]) LANGUAGE plpgsql AS $$
        BEGIN
          RETURN QUERY SELECT * FROM casebridge_transfer_log_append_checked_real(a, b, c, d, e, f, g, h, i);
          RAISE EXCEPTION 'connection lost mid-statement' USING ERRCODE = '08006';
        END;
        $$`)
        .execute(t.services.db);
      try {
        const answers = await Promise.all(
          feeds.map(async (f, i) => {
            const res = await fetchFeed(f.url, { 'if-none-match': etags[i]! });
            return { status: res.status, retryAfter: res.headers.get('retry-after'), code: ((await res.json()) as { error: { code: string } }).error.code };
          }),
        );
        expect(answers).toEqual(feeds.map(() => ({ status: 503, retryAfter: '5', code: 'service_unavailable' })));
      } finally {
        await sql.raw(`DROP FUNCTION casebridge_transfer_log_append_checked(${signature})`).execute(t.services.db);
        await sql
          .raw(`ALTER FUNCTION casebridge_transfer_log_append_checked_real(${signature}) RENAME TO casebridge_transfer_log_append_checked`)
          .execute(t.services.db);
      }
      await t.services.gate.settled();
      expect(await Promise.all(feeds.map((f) => notModifiedRows(f.feed.connectionId)))).toEqual(before);
      const headAfter = await t.services.db
        .selectFrom('transfer_log_heads')
        .selectAll()
        .where('organization_id', '=', a.organizationId)
        .executeTakeFirstOrThrow();
      expect([headAfter.seq, headAfter.hash]).toEqual([head.seq, head.hash]);
      // And the next polls are answered and logged on the same chain.
      expect((await fetchFeed(feeds[0]!.url, { 'if-none-match': etags[0]! })).status).toBe(304);
      await t.services.gate.settled();
      expect((await verifyTransferLog(t.services, { organizationId: a.organizationId })).ok).toBe(true);
    });

    it('deletion: 404 at once, connection revoked through the revocation pipeline (receipt, audit), consent withdrawn, gone from the list', async () => {
      const created = await newFeed();
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      const del = await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers: member });
      expect(del.status).toBe(204);
      expect((await fetchFeed(created.url)).status).toBe(404);
      expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(404);
      const connection = await t.services.db.selectFrom('connections').selectAll().where('id', '=', created.feed.connectionId).executeTakeFirstOrThrow();
      expect(connection.status).toBe('revoked');
      const consent = await t.services.db.selectFrom('consents').selectAll().where('connection_id', '=', created.feed.connectionId).executeTakeFirstOrThrow();
      expect(consent.withdrawn_at).not.toBeNull();
      expect(consent.withdrawn_by).toBe('revocation');
      const revocation = await t.services.db
        .selectFrom('revocations')
        .selectAll()
        .where(sql<boolean>`connection_ids ? ${created.feed.connectionId}`)
        .executeTakeFirstOrThrow();
      expect([revocation.reason, revocation.requested_by]).toEqual(['iCal feed deleted by its owner', { kind: 'user', userId: a.member.id }]);
      const audit = await t.services.db
        .selectFrom('audit_log')
        .select('action')
        .where(sql<boolean>`details @> ${JSON.stringify({ revocationId: revocation.id })}::jsonb`)
        .execute();
      expect(audit.map((r) => r.action)).toContain('revocation.request');
      const list = (await (await t.app.request('/v1/ical-feeds', { headers: member })).json()) as { items: Array<{ id: string }> };
      expect(list.items.map((f) => f.id)).not.toContain(created.feed.id);
      const all = (await (await t.app.request('/v1/ical-feeds?includeRevoked=true', { headers: member })).json()) as {
        items: Array<{ id: string; status: string }>;
      };
      expect(all.items.find((f) => f.id === created.feed.id)?.status).toBe('revoked');
      expect((await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers: member })).status).toBe(404);
      expect((await t.app.request(`/v1/ical-feeds/${created.feed.id}/rotate`, { method: 'POST', headers: member })).status).toBe(404);
    });

    it('answers concurrent fetches of different feeds (looked up in one query) each with its own feed, and unknown tokens 404', async () => {
      const one = await newFeed({ name: 'Feed one' });
      const two = await newFeed({ name: 'Feed two' });
      const unknown = `${one.url.slice(0, one.url.lastIndexOf('/'))}/${'Q'.repeat(43)}.ics`;
      const answers = await Promise.all(
        [one.url, two.url, unknown, one.url].map(async (url) => {
          const res = await fetchFeed(url);
          return { status: res.status, body: await res.text() };
        }),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 404, 200]);
      expect(answers[0]!.body).toContain('X-WR-CALNAME:Feed one');
      expect(answers[1]!.body).toContain('X-WR-CALNAME:Feed two');
      expect(answers[3]!.body).toBe(answers[0]!.body);
    });

    it('answers HEAD with the headers and no body, logged as one not_modified row (nothing of the feed left)', async () => {
      const created = await newFeed();
      const cold = await t.app.request(pathOf(created.url), { method: 'HEAD', headers: { 'user-agent': UA } }, PEER);
      expect(cold.status).toBe(200);
      expect(cold.headers.get('content-type')).toContain('text/calendar');
      expect(await cold.text()).toBe('');
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      const warm = await t.app.request(pathOf(created.url), { method: 'HEAD', headers: { 'user-agent': UA } }, PEER);
      expect(warm.headers.get('etag')).toBe(etag);
      // A HEAD (like a 304) answers once its row is queued for the next group commit.
      await t.services.gate.settled();
      const rows = await logRows(created.feed.connectionId);
      expect(rows.map((r) => [r.outcome, r.provider_status])).toEqual([
        ['not_modified', 200],
        ['intent', null],
        ['sent', 200],
        ['not_modified', 200],
      ]);
      expect(rows[0]).toMatchObject({ payload_bytes: 0, field_names: [], requester_user_agent: UA });
      const gone = await t.app.request('/ical/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics', { method: 'HEAD' }, PEER);
      expect(gone.status).toBe(404);
    });

    it('deleting again finishes a deletion that was interrupted after the token died', async () => {
      const created = await newFeed();
      // As if the process stopped between invalidating the token and revoking the connection.
      await t.services.db.updateTable('ical_feeds').set({ revoked_at: new Date() }).where('id', '=', created.feed.id).execute();
      expect((await fetchFeed(created.url)).status).toBe(404);
      const del = await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers: member });
      expect(del.status).toBe(204);
      const connection = await t.services.db.selectFrom('connections').select('status').where('id', '=', created.feed.connectionId).executeTakeFirstOrThrow();
      expect(connection.status).toBe('revoked');
      expect((await t.app.request(`/v1/ical-feeds/${created.feed.id}`, { method: 'DELETE', headers: member })).status).toBe(404);
    });

    it('a withdrawn consent (e.g. by the revocation pipeline) answers 404 at once, even to a conditional request', async () => {
      const created = await newFeed();
      const etag = (await fetchFeed(created.url)).headers.get('etag')!;
      await withdrawConsents(t.services, { connectionIds: [created.feed.connectionId], actor: 'test' });
      expect((await fetchFeed(created.url)).status).toBe(404);
      expect((await fetchFeed(created.url, { 'if-none-match': etag })).status).toBe(404);
    });

    it('disconnecting the feed’s connection through the revocation pipeline answers 404 at once', async () => {
      const created = await newFeed();
      expect((await fetchFeed(created.url)).status).toBe(200);
      const res = await t.app.request(`/v1/connections/${created.feed.connectionId}`, { method: 'DELETE', headers: member });
      expect(res.status).toBe(202);
      expect((await fetchFeed(created.url)).status).toBe(404);
      const list = (await (await t.app.request('/v1/ical-feeds?includeRevoked=true', { headers: member })).json()) as {
        items: Array<{ id: string; status: string }>;
      };
      expect(list.items.find((f) => f.id === created.feed.id)?.status).toBe('revoked');
    });

    it('the connector’s revoke invalidates the token and reports the step', async () => {
      const created = await newFeed();
      expect((await fetchFeed(created.url)).status).toBe(200);
      const connection = await t.services.db.selectFrom('connections').selectAll().where('id', '=', created.feed.connectionId).executeTakeFirstOrThrow();
      const steps = await icalConnector.revoke(revokeContextFor(t.services, icalConnector, connection, true));
      expect(steps[0]).toMatchObject({ step: 'invalidate_feed_token', result: 'done' });
      expect(steps[1]).toMatchObject({ step: 'purge_remote', result: 'not_supported' });
      expect(icalConnector.manifest.providerRevoke).toBe(false);
      expect((await fetchFeed(created.url)).status).toBe(404);
    });

    it('gives unknown, malformed, rotated, deleted and withdrawn tokens the very same 404', async () => {
      const rotated = await newFeed();
      await t.app.request(`/v1/ical-feeds/${rotated.feed.id}/rotate`, { method: 'POST', headers: member });
      const deleted = await newFeed();
      await t.app.request(`/v1/ical-feeds/${deleted.feed.id}`, { method: 'DELETE', headers: member });
      const withdrawn = await newFeed();
      await withdrawConsents(t.services, { connectionIds: [withdrawn.feed.connectionId], actor: 'test' });
      const answers = [
        await notFoundAnswer(await t.app.request(`/ical/${'A'.repeat(43)}.ics`)),
        await notFoundAnswer(await t.app.request('/ical/short.ics')),
        await notFoundAnswer(await fetchFeed(rotated.url)),
        await notFoundAnswer(await fetchFeed(deleted.url)),
        await notFoundAnswer(await fetchFeed(withdrawn.url)),
      ];
      for (const answer of answers) expect(answer).toEqual(answers[0]);
      expect(answers[0]).toMatchObject({ status: 404, cache: 'no-store' });
      expect(JSON.parse(answers[0]!.body)).toEqual({ error: { code: 'not_found', message: 'not found' } });
    });
  });
});
