import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

describe('iCal feed rate limit', () => {
  let t: TestServices;
  let org: SeededOrg;
  let member: Record<string, string>;

  beforeAll(async () => {
    t = await createTestServices({ ICAL_RATE_LIMIT_PER_MINUTE: '3' });
    org = await seedOrg(t.services);
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    await t.app.request('/v1/ingest/cases/c1', {
      method: 'PUT',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ number: 'C-1', title: 'Case', assignees: [org.member.email] }),
    });
  });
  afterAll(async () => t.cleanup());

  const newFeed = async () => {
    const res = await t.app.request('/v1/ical-feeds', {
      method: 'POST',
      headers: { ...member, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Feed', categories: ['calendar.events'], caseScope: { kind: 'all' } }),
    });
    const created = (await res.json()) as { url: string; feed: { connectionId: string } };
    return { path: new URL(created.url).pathname, connectionId: created.feed.connectionId };
  };
  const newFeedPath = async () => (await newFeed()).path;

  it('answers 429 with Retry-After once a feed is fetched more often than ICAL_RATE_LIMIT_PER_MINUTE, per feed', async () => {
    const path = await newFeedPath();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.app.request(path)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await t.app.request(path);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // Conditional requests count too; another feed of the same user is unaffected.
    expect((await t.app.request(path, { headers: { 'if-none-match': '*' } })).status).toBe(429);
    expect((await t.app.request(await newFeedPath())).status).toBe(200);
  });

  it('limits unknown tokens the same way, so a 429 says nothing about whether a token exists', async () => {
    const unknown = `/ical/${'Z'.repeat(43)}.ics`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await t.app.request(unknown)).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
  });

  it('counts every fetch of a batch: concurrent fetches of one token share a Redis script call, and only the limit passes', async () => {
    const unknown = `/ical/${'Y'.repeat(43)}.ics`;
    const statuses = await Promise.all(Array.from({ length: 6 }, async () => (await t.app.request(unknown)).status));
    expect(statuses.sort()).toEqual([404, 404, 404, 429, 429, 429]);
  });

  it('does not log a transfer for a refused (429) fetch', async () => {
    const { path, connectionId } = await newFeed();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.app.request(path)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const rows = await t.services.db.selectFrom('transfer_log').select(['outcome']).where('connection_id', '=', connectionId).execute();
    expect(rows.map((r) => r.outcome).sort()).toEqual(['intent', 'intent', 'intent', 'sent', 'sent', 'sent']);
  });
});
