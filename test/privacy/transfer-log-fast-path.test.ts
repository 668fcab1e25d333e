import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalDigest, canonicalJson, freezeDeep, isDeepFrozen, sha256Hex } from '../../src/transfers/canonical.ts';
import { canonicalEntry, canonicalEntryReference, INLINE_SUBJECTS_MAX, type TransferLogEntry } from '../../src/transfers/log-entry.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { enforceRetention } from '../../src/transfers/retention.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { verifyTransferLog } from '../../src/transfers/verify.ts';
import { type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logRows } from './helpers.ts';

/**
 * The transfer log's fast path (migration 0008): large subject sets stored once and named by digest,
 * payload hashes memoised for frozen payloads, and the hand-written canonical row text. Whatever the
 * storage, what the log shows and what `transfers verify` checks must not change.
 */

const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
const text = fc.string({ unit: 'grapheme', maxLength: 40 });

const entryArb: fc.Arbitrary<TransferLogEntry & { seq: number }> = fc.record({
  id: fc.uuid(),
  organizationId: fc.uuid(),
  seq: fc.integer({ min: 1, max: 2 ** 40 }),
  direction: fc.constantFrom('outbound' as const, 'inbound' as const),
  userId: nullable(fc.uuid()),
  connectionId: nullable(fc.uuid()),
  platform: nullable(text),
  recipientAccount: nullable(text),
  recipientDestination: nullable(text),
  subjects: fc.record({ caseIds: fc.array(text, { maxLength: 3 }), eventIds: fc.array(text, { maxLength: 3 }) }, { requiredKeys: [] }),
  subjectsDigest: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
  categories: fc.array(text, { maxLength: 3 }),
  fieldNames: fc.array(text, { maxLength: 3 }),
  purpose: text,
  consentId: nullable(fc.uuid()),
  consentVersion: nullable(fc.integer({ min: 1, max: 1000 })),
  payloadSha256: nullable(fc.stringMatching(/^[0-9a-f]{64}$/)),
  payloadBytes: nullable(fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  actor: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null))),
  operation: text,
  itemKey: nullable(text),
  intentId: nullable(fc.uuid()),
  outcome: fc.constantFrom('intent' as const, 'sent' as const, 'failed' as const, 'blocked' as const, 'not_modified' as const, 'received' as const),
  providerStatus: nullable(fc.integer({ min: 100, max: 599 })),
  remoteId: nullable(text),
  durationMs: nullable(fc.integer({ min: 0, max: 100_000 })),
  reason: nullable(text),
  errorClass: nullable(text),
  errorMessage: nullable(text),
  requesterIp: nullable(text),
  requesterUserAgent: nullable(text),
  createdAt: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
});

describe('canonical row text and payload digests (pure)', () => {
  it('writes exactly the bytes canonicalJson writes for any row', () => {
    fc.assert(
      fc.property(entryArb, (entry) => {
        expect(canonicalEntry(entry)).toBe(canonicalEntryReference(entry));
      }),
      { numRuns: 300 },
    );
  });

  it('memoises the digest of a frozen payload and never that of one that can still change', () => {
    const fields: Record<string, unknown> = { title: ['a', 'b'], start: ['2026-01-01'], description: ['secret'] };
    const direct = (v: unknown) => {
      const json = canonicalJson(v);
      return { sha256: sha256Hex(json), bytes: Buffer.byteLength(json) };
    };
    // Mutable: every call sees the current content.
    expect(canonicalDigest(fields, ['start', 'title'])).toEqual(direct({ title: ['a', 'b'], start: ['2026-01-01'] }));
    (fields.title as string[]).push('c');
    expect(canonicalDigest(fields, ['start', 'title'])).toEqual(direct({ title: ['a', 'b', 'c'], start: ['2026-01-01'] }));
    expect(isDeepFrozen(fields)).toBe(false);

    // Frozen: the same answer, computed once per set of released names.
    const frozen = freezeDeep({ title: ['a', 'é'], start: ['2026-01-01'], participantNames: [['X', 'Y']] });
    expect(isDeepFrozen(frozen)).toBe(true);
    expect(() => (frozen.title as string[]).push('z')).toThrow();
    expect(canonicalDigest(frozen, ['title', 'start'])).toEqual(direct({ start: ['2026-01-01'], title: ['a', 'é'] }));
    expect(canonicalDigest(frozen, ['title', 'start'])).toBe(canonicalDigest(frozen, ['start', 'title']));
    expect(canonicalDigest(frozen)).toEqual(direct(frozen));

    // A frozen shell around something mutable is not frozen deeply.
    const shell = Object.freeze({ title: ['still', 'mutable'] });
    expect(isDeepFrozen(shell)).toBe(false);
    expect(isDeepFrozen(Object.freeze({ at: Object.freeze(new Date()) }))).toBe(false);
  });
});

describe('large subject sets are stored once and read as if inline', () => {
  let t: TestServices;
  let org: SeededOrg;
  let connectionId: string;
  let caseId: string;
  const eventIds = Array.from({ length: INLINE_SUBJECTS_MAX + 36 }, (_, i) => `feed-event-${i}`);

  /** A feed-like item naming 100 events, frozen as the iCal render cache's items are. */
  const bigItem = (): TransferItem =>
    freezeDeep({
      operation: 'publish' as const,
      categories: ['calendar.events'] as TransferItem['categories'],
      subjects: { caseIds: [caseId], eventIds },
      recipient: { account: null, destination: 'ical-feed:f1' },
      fields: { title: eventIds.map((id) => `Hearing ${id}`), start: eventIds.map(() => '2026-03-02T09:00:00.000Z') },
      itemKey: 'ical-feed:f1',
    });

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Feed Firm');
    caseId = randomUUID();
    connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, platform: 'ical' });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
  });
  afterAll(async () => t.cleanup());

  it('logs each fetch as an intent and an outcome naming the set by digest; the set is stored once', async () => {
    const item = bigItem();
    for (let i = 0; i < 3; i++) {
      const r = await t.services.gate.send({ ...jobCtx(connectionId, 'ical_feed') }, item, async (minimised) => ({
        value: Object.keys(minimised),
        status: 200,
      }));
      expect(r.outcome).toBe('sent');
    }
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'sent', 'intent', 'sent', 'intent', 'sent']);
    const digest = sha256Hex(canonicalJson({ caseIds: [caseId], eventIds }));
    expect(rows.every((r) => r.subjects_digest === digest && Object.keys(r.subjects).length === 0)).toBe(true);
    const sets = await t.services.db.selectFrom('transfer_subject_sets').selectAll().where('organization_id', '=', org.organizationId).execute();
    expect(sets).toHaveLength(1);
    expect(sets[0]!.subjects).toEqual({ caseIds: [caseId], eventIds });
    // The payload hash is that of the released fields, whether memoised or not.
    const expected = sha256Hex(canonicalJson({ start: item.fields.start, title: item.fields.title }));
    expect(rows.every((r) => r.payload_sha256 === expected)).toBe(true);
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).ok).toBe(true);
  });

  it('finds those rows by any of their subjects in pages, exports and the access report, subjects resolved', async () => {
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const page = (await (await t.app.request(`/v1/transfers?eventId=${eventIds[77]}&limit=100`, { headers: admin })).json()) as {
      items: Array<{ outcome: string; subjects: { eventIds: string[]; caseIds: string[] }; subjectsDigest: string | null }>;
    };
    expect(page.items.map((i) => i.outcome).sort()).toEqual(['intent', 'intent', 'intent', 'sent', 'sent', 'sent']);
    expect(page.items.every((i) => i.subjects.eventIds.length === eventIds.length && i.subjects.caseIds[0] === caseId)).toBe(true);
    expect(page.items.every((i) => i.subjectsDigest === sha256Hex(canonicalJson(i.subjects)))).toBe(true);
    expect(((await (await t.app.request(`/v1/transfers?caseId=${caseId}`, { headers: admin })).json()) as { items: unknown[] }).items).toHaveLength(6);
    expect(((await (await t.app.request('/v1/transfers?eventId=no-such-event', { headers: admin })).json()) as { items: unknown[] }).items).toEqual([]);

    const exported = (await (await t.app.request(`/v1/transfers/export?format=json&eventId=${eventIds[3]}`, { headers: admin })).json()) as Array<{
      subjects: { eventIds: string[] };
    }>;
    expect(exported).toHaveLength(6);
    expect(exported.every((r) => r.subjects.eventIds.includes(eventIds[3]!))).toBe(true);
    const csv = (await (await t.app.request(`/v1/transfers/export?format=csv&eventId=${eventIds[3]}`, { headers: admin })).text()).trimEnd().split('\r\n');
    expect(csv).toHaveLength(7);
    expect(csv.slice(1).every((line) => line.includes(eventIds[99]!))).toBe(true);

    const report = (await (await t.app.request(`/v1/admin/subject-access?eventId=${eventIds[50]}`, { headers: admin })).json()) as {
      transfers: Array<{ delivery: string; counterparty: { destination: string }; logRowIds: string[] }>;
      recipients: Array<{ destination: string; transfers: number }>;
    };
    expect(report.transfers).toHaveLength(3);
    expect(report.transfers.every((x) => x.delivery === 'delivered' && x.logRowIds.length === 2)).toBe(true);
    expect(report.recipients).toEqual([expect.objectContaining({ destination: 'ical-feed:f1', transfers: 3 })]);

    // Another organization never sees them, even by the same subject id.
    const other = await seedOrg(t.services, 'Other Firm');
    const outsider = await signInAs(t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    expect(((await (await t.app.request(`/v1/transfers?eventId=${eventIds[77]}`, { headers: outsider })).json()) as { items: unknown[] }).items).toEqual([]);
  });

  it('keeps small subject lists inline', async () => {
    const small: TransferItem = {
      operation: 'create',
      categories: ['calendar.events'],
      subjects: { caseIds: [caseId], eventIds: ['only-one'] },
      recipient: { account: null, destination: 'cal' },
      fields: { title: 'x' },
    };
    await t.services.gate.send(jobCtx(connectionId), small, async () => ({ value: null }));
    const rows = (await logRows(t.services, org.organizationId)).slice(-2);
    expect(rows.map((r) => [r.outcome, r.subjects_digest, r.subjects])).toEqual([
      ['intent', null, { caseIds: [caseId], eventIds: ['only-one'] }],
      ['sent', null, { caseIds: [caseId], eventIds: ['only-one'] }],
    ]);
  });

  it('names the first row of a subject set that was edited in the database', async () => {
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.subjects_digest !== null);
    const first = rows[0]!;
    await sql`ALTER TABLE transfer_subject_sets DISABLE TRIGGER transfer_subject_sets_append_only`.execute(t.services.db);
    try {
      const forged = JSON.stringify({ caseIds: [caseId], eventIds: eventIds.slice(1) });
      await sql`UPDATE transfer_subject_sets SET subjects = ${forged}::jsonb WHERE digest = ${first.subjects_digest}`.execute(t.services.db);
      const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
      expect(report.ok).toBe(false);
      expect(report.organizations[0]!.firstBroken).toMatchObject({ kind: 'subject_set_changed', id: first.id, seq: Number(first.seq) });
      const original = JSON.stringify({ caseIds: [caseId], eventIds });
      await sql`UPDATE transfer_subject_sets SET subjects = ${original}::jsonb WHERE digest = ${first.subjects_digest}`.execute(t.services.db);
    } finally {
      await sql`ALTER TABLE transfer_subject_sets ENABLE TRIGGER transfer_subject_sets_append_only`.execute(t.services.db);
    }
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).ok).toBe(true);
    // The sets are append-only like the log, and a row cannot name a set that does not exist.
    await expect(sql`DELETE FROM transfer_subject_sets WHERE organization_id = ${org.organizationId}`.execute(t.services.db)).rejects.toThrow(/append-only/);
  });
});

describe('retention and subject sets', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices();
  });
  afterAll(async () => t.cleanup());

  const row = (organizationId: string, eventIds: string[], createdAt = new Date()): TransferLogEntry => ({
    id: randomUUID(),
    organizationId,
    direction: 'outbound',
    userId: null,
    connectionId: null,
    platform: 'ical',
    recipientAccount: null,
    recipientDestination: 'ical-feed:f2',
    subjects: { eventIds },
    categories: ['calendar.events'],
    fieldNames: ['title'],
    purpose: 'ical_feed',
    consentId: null,
    consentVersion: null,
    payloadSha256: 'ab'.repeat(32),
    payloadBytes: 10,
    actor: { kind: 'feed_fetch' },
    operation: 'publish',
    itemKey: 'ical-feed:f2',
    intentId: null,
    outcome: 'intent',
    providerStatus: null,
    remoteId: null,
    durationMs: null,
    reason: null,
    errorClass: null,
    errorMessage: null,
    requesterIp: null,
    requesterUserAgent: null,
    createdAt,
  });

  it('removes the sets only purged rows named, and the writer re-stores a set it remembered', async () => {
    const org = await seedOrg(t.services, 'Retention Sets');
    const writer = new TransferLogWriter(t.services.db);
    const days = t.config.TRANSFER_LOG_RETENTION_DAYS;
    const old = new Date(Date.now() - (days + 10) * 86_400_000);
    const oldSet = Array.from({ length: 80 }, (_, i) => `old-${i}`);
    const keptSet = Array.from({ length: 80 }, (_, i) => `kept-${i}`);
    await writer.append([row(org.organizationId, oldSet, old), row(org.organizationId, keptSet, old)]);
    await writer.append([row(org.organizationId, keptSet)]);
    // Sets are stamped by the database; make them as old as the rows that first named them.
    await sql`ALTER TABLE transfer_subject_sets DISABLE TRIGGER transfer_subject_sets_append_only`.execute(t.services.db);
    await sql`UPDATE transfer_subject_sets SET created_at = ${old} WHERE organization_id = ${org.organizationId}`.execute(t.services.db);
    await sql`ALTER TABLE transfer_subject_sets ENABLE TRIGGER transfer_subject_sets_append_only`.execute(t.services.db);

    const result = await enforceRetention(t.services, { organizationId: org.organizationId });
    expect(result.organizations).toEqual([expect.objectContaining({ removedRows: 2, throughSeq: 2, removedSubjectSets: 1 })]);
    const sets = await t.services.db.selectFrom('transfer_subject_sets').select('subjects').where('organization_id', '=', org.organizationId).execute();
    expect(sets.map((s) => (s.subjects as { eventIds: string[] }).eventIds[0])).toEqual(['kept-0']);
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).ok).toBe(true);

    // This writer still remembers the purged set: its next row naming it must store it again.
    await writer.append([row(org.organizationId, oldSet)]);
    const rows = await logRows(t.services, org.organizationId);
    expect(rows.map((r) => Number(r.seq))).toEqual([3, 4]);
    expect(await t.services.db.selectFrom('transfer_subject_sets').select('digest').where('organization_id', '=', org.organizationId).execute()).toHaveLength(
      2,
    );
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).ok).toBe(true);
  });
});
