import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransferItem } from '../../src/transfers/types.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertCase, insertConnection, jobCtx } from './helpers.ts';

interface TransferJson {
  id: string;
  seq: number;
  outcome: string;
  connectionId: string;
  platform: string;
  subjects: Record<string, string[]>;
  recipient: { account: string; destination: string };
}

describe('transfer queries, export and access report', () => {
  let t: TestServices;
  let org: SeededOrg;
  let other: SeededOrg;
  let memberConn: string;
  let adminConn: string;
  let foreignConn: string;
  let caseA: string;
  let caseB: string;
  let headers: { member: Record<string, string>; admin: Record<string, string>; outsider: Record<string, string> };

  const event = (caseId: string, eventId: string, destination: string, contactIds: string[] = []): TransferItem => ({
    operation: 'create',
    categories: ['calendar.events', 'calendar.events.details'],
    subjects: { caseIds: [caseId], eventIds: [eventId], contactIds },
    recipient: { account: null, destination },
    fields: { title: `Event ${eventId}`, participantNames: ['Wendy Witness'] },
    itemKey: `event:${eventId}`,
  });

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Query Firm');
    other = await seedOrg(t.services, 'Foreign Firm');
    caseA = await insertCase(t.services, org.organizationId, 'A-1');
    caseB = await insertCase(t.services, org.organizationId, 'B-2');
    memberConn = await insertConnection(t.services, {
      organizationId: org.organizationId,
      userId: org.member.id,
      platform: 'google_calendar',
      account: 'max@gmail.test',
    });
    adminConn = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.admin.id, platform: 'ical', account: 'feed-token:1' });
    foreignConn = await insertConnection(t.services, { organizationId: other.organizationId, userId: other.member.id });
    for (const [c, o, u] of [
      [memberConn, org, org.member.id],
      [adminConn, org, org.admin.id],
      [foreignConn, other, other.member.id],
    ] as const) {
      await consent(t.services, { connectionId: c, organizationId: o.organizationId, userId: u, categories: ['calendar.events', 'calendar.events.details'] });
    }
    // member: two sent to calendar cal-m (case A: e1 with contact k1, case B: e2), one failed (case A, e3)
    await t.services.gate.sendMany(jobCtx(memberConn), [event(caseA, 'e1', 'cal-m', ['k1']), event(caseB, 'e2', 'cal-m')], async () => ({
      value: null,
      status: 200,
    }));
    await t.services.gate.send(jobCtx(memberConn), event(caseA, 'e3', 'cal-m'), async () => {
      throw Object.assign(new Error('boom'), { status: 500 });
    });
    // admin: one feed publication of case A with contact k1, and a refused one (documents not consented)
    await t.services.gate.send(jobCtx(adminConn, 'ical_feed'), event(caseA, 'e1', 'feed-1', ['k1']), async () => ({ value: null, status: 200 }));
    await t.services.gate.send(
      jobCtx(adminConn),
      {
        operation: 'create',
        categories: ['documents.metadata'],
        subjects: { caseIds: [caseA] },
        recipient: { account: null, destination: 'x' },
        fields: { title: 'd' },
      },
      async () => ({ value: null }),
    );
    // the other organization also transfers data about "case A"'s id string (it must never show up)
    await t.services.gate.send(jobCtx(foreignConn), event(caseA, 'e1', 'foreign-cal', ['k1']), async () => ({ value: null, status: 200 }));
    headers = {
      member: await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' }),
      admin: await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' }),
      outsider: await signInAs(t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' }),
    };
  });
  afterAll(async () => t.cleanup());

  const list = async (query: string, who: Record<string, string>) => {
    const res = await t.app.request(`/v1/transfers${query}`, { headers: who });
    expect(res.status).toBe(200);
    return (await res.json()) as { items: TransferJson[]; nextCursor: string | null };
  };

  it('shows a member only the rows of their own connections, an admin the organization', async () => {
    const mine = await list('?limit=100', headers.member);
    expect(new Set(mine.items.map((i) => i.connectionId))).toEqual(new Set([memberConn]));
    expect(mine.items).toHaveLength(6); // 3 intents + 2 sent + 1 failed
    const all = await list('?limit=100', headers.admin);
    expect(new Set(all.items.map((i) => i.connectionId))).toEqual(new Set([memberConn, adminConn]));
    expect(all.items).toHaveLength(9);
    // newest first, by chain position
    expect(all.items.map((i) => i.seq)).toEqual([...all.items.map((i) => i.seq)].sort((a, b) => b - a));
  });

  it('never shows another organization’s transfers', async () => {
    const theirs = await list('?limit=100', headers.outsider);
    expect(theirs.items.every((i) => i.connectionId === foreignConn)).toBe(true);
    expect((await list(`?connectionId=${memberConn}`, headers.outsider)).items).toEqual([]);
    expect((await list(`?caseId=${caseA}`, headers.outsider)).items.every((i) => i.connectionId === foreignConn)).toBe(true);
    const report = await t.app.request(`/v1/admin/subject-access?caseId=${caseA}`, { headers: headers.outsider });
    const body = (await report.json()) as { transfers: Array<{ connectionId: string }> };
    expect(body.transfers.every((x) => x.connectionId === foreignConn)).toBe(true);
  });

  it('filters by subject, outcome, platform and time, and pages with a cursor', async () => {
    const caseB_ = await list(`?caseId=${caseB}`, headers.admin);
    expect(caseB_.items.map((i) => i.outcome).sort()).toEqual(['intent', 'sent']);
    const failed = await list('?outcome=failed,blocked', headers.admin);
    expect(failed.items.map((i) => i.outcome).sort()).toEqual(['blocked', 'failed']);
    expect((await list('?platform=ical', headers.admin)).items.every((i) => i.platform === 'ical')).toBe(true);
    expect((await list('?contactId=k1', headers.admin)).items).toHaveLength(4);
    expect((await list(`?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, headers.admin)).items).toEqual([]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: TransferJson[]; nextCursor: string | null } = await list(`?limit=4${cursor ? `&cursor=${cursor}` : ''}`, headers.admin);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
    expect((await t.app.request('/v1/transfers?cursor=nonsense', { headers: headers.admin })).status).toBe(400);
    expect((await t.app.request(`/v1/transfers?caseId=${caseA}&contactId=k1`, { headers: headers.admin })).status).toBe(400);
  });

  it('exports exactly the matching rows as JSON and CSV', async () => {
    const json = await t.app.request(`/v1/transfers/export?format=json&caseId=${caseA}`, { headers: headers.admin });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-disposition')).toMatch(/attachment; filename="transfers-.*\.json"/);
    const rows = (await json.json()) as TransferJson[];
    const expected = (await list(`?caseId=${caseA}&limit=100`, headers.admin)).items.map((i) => i.id).reverse();
    expect(rows.map((r) => r.id)).toEqual(expected);
    expect(rows).toHaveLength(7); // member e1 intent+sent, e3 intent+failed; admin feed intent+sent; refused documents row

    const csv = await t.app.request(`/v1/transfers/export?format=csv&caseId=${caseB}`, { headers: headers.member });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]!.split(',').slice(0, 3)).toEqual(['id', 'seq', 'created_at']);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[4])
        .sort(),
    ).toEqual(['intent', 'sent']);
    expect(lines.slice(1).every((l) => l.includes(caseB) && l.includes('cal-m'))).toBe(true);

    const empty = await t.app.request('/v1/transfers/export?format=json&caseId=nobody', { headers: headers.admin });
    expect(await empty.json()).toEqual([]);
    const audit = await t.services.db.selectFrom('audit_log').select('action').where('organization_id', '=', org.organizationId).execute();
    expect(audit.filter((a) => a.action === 'transfers.export').length).toBeGreaterThanOrEqual(3);
  });

  it('reports every transfer about a contact with each recipient named individually', async () => {
    const res = await t.app.request('/v1/admin/subject-access?contactId=k1', { headers: headers.admin });
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      recipients: Array<{ platform: string; account: string | null; destination: string; transfers: number }>;
      transfers: Array<{ delivery: string; counterparty: { destination: string }; categories: string[]; fieldNames: string[]; consent: { version: number } }>;
      refusedCount: number;
    };
    expect(report.transfers).toHaveLength(2);
    expect(report.recipients).toEqual(
      expect.arrayContaining([
        { platform: 'google_calendar', account: 'max@gmail.test', destination: 'cal-m', transfers: 1 },
        { platform: 'ical', account: 'feed-token:1', destination: 'feed-1', transfers: 1 },
      ]),
    );
    expect(report.recipients).toHaveLength(2);
    expect(report.transfers.every((x) => x.delivery === 'delivered' && x.consent.version === 1)).toBe(true);
    expect(report.transfers[0]!.fieldNames).toEqual(['participantNames', 'title']);

    const byCase = (await (await t.app.request(`/v1/admin/subject-access?caseId=${caseA}`, { headers: headers.admin })).json()) as {
      transfers: Array<{ delivery: string }>;
      refusedCount: number;
    };
    expect(byCase.transfers.map((x) => x.delivery).sort()).toEqual(['delivered', 'delivered', 'failed_may_have_reached_recipient']);
    expect(byCase.refusedCount).toBe(1);
    expect((await t.app.request('/v1/admin/subject-access?contactId=k1', { headers: headers.member })).status).toBe(403);
    expect((await t.app.request('/v1/admin/subject-access', { headers: headers.admin })).status).toBe(400);
  });

  it('verifies the organization’s chain from the admin endpoint and lists the audit log', async () => {
    const res = await t.app.request('/v1/admin/transfers/verify', { headers: headers.admin });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { ok: boolean; organizations: Array<{ organizationId: string; rows: number }> };
    expect(report.ok).toBe(true);
    expect(report.organizations).toEqual([expect.objectContaining({ organizationId: org.organizationId, rows: 9 })]);
    const seal = await t.app.request('/v1/admin/transfers/checkpoints', { method: 'POST', headers: headers.admin });
    expect(seal.status).toBe(200);
    const audit = await t.app.request('/v1/admin/audit?limit=2', { headers: headers.admin });
    const page = (await audit.json()) as { items: Array<{ action: string }>; nextCursor: string | null };
    expect(page.items[0]!.action).toBe('transfer_log.seal');
    expect(page.nextCursor).not.toBeNull();
    const next = (await (await t.app.request(`/v1/admin/audit?limit=50&cursor=${page.nextCursor}`, { headers: headers.admin })).json()) as {
      items: Array<{ action: string }>;
    };
    expect(next.items.length).toBeGreaterThan(0);
    expect((await t.app.request('/v1/admin/audit', { headers: headers.member })).status).toBe(403);
  });
});
