import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedFields, CATEGORIES, type CategoryId } from '../../src/consent/categories.ts';
import { bumpRevocationEpoch, withdrawConsents } from '../../src/consent/service.ts';
import { canonicalJson, sha256Hex } from '../../src/transfers/canonical.ts';
import { createProviderHttpClient, ProviderRequestError } from '../../src/transfers/clients/http.ts';
import { assertInsideGate, gateScope } from '../../src/transfers/gate-scope.ts';
import { inflightCount } from '../../src/transfers/inflight.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { type SeededOrg, seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertCase, insertConnection, jobCtx, logRows } from './helpers.ts';

const event = (caseId: string, extra: Record<string, unknown> = {}): TransferItem => ({
  operation: 'create',
  categories: ['calendar.events', 'calendar.events.details'],
  subjects: { caseIds: [caseId], eventIds: ['e1'] },
  recipient: { account: null, destination: 'cal-1' },
  fields: { title: 'Hearing', start: '2026-01-05T09:00:00Z', end: '2026-01-05T10:00:00Z', description: 'secret strategy', ...extra },
  itemKey: 'event:e1',
});

describe('outbound gate', () => {
  let t: TestServices;
  let org: SeededOrg;
  let caseA: string;
  let caseB: string;
  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services);
    caseA = await insertCase(t.services, org.organizationId, 'A-1');
    caseB = await insertCase(t.services, org.organizationId, 'B-2');
  });
  afterAll(async () => t.cleanup());

  const newConnection = async (status: 'active' | 'paused' | 'revoked' = 'active') =>
    insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id, status });

  it('refuses a transfer when the category was not consented, logs it blocked and never calls the provider', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['documents.metadata'] });
    let calls = 0;
    const result = await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => {
      calls++;
      return { value: null };
    });
    expect(result.outcome).toBe('blocked');
    expect(result.outcome === 'blocked' && result.reason).toBe('category_not_consented');
    expect(calls).toBe(0);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'blocked', reason: 'category_not_consented', payload_sha256: null, item_key: 'event:e1' });
  });

  it('hands perform only the consented fields and logs intent before the call and the outcome after', async () => {
    const connectionId = await newConnection();
    const c = await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    let seen: Record<string, unknown> = {};
    let rowsDuringCall = -1;
    const result = await t.services.gate.send(jobCtx(connectionId), event(caseA), async (fields) => {
      seen = fields;
      assertInsideGate('test client');
      rowsDuringCall = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId).length;
      return { value: 'ok', status: 200, remoteId: 'remote-1' };
    });
    expect(result).toMatchObject({ outcome: 'sent', value: 'ok' });
    expect(seen).toEqual({ title: 'Hearing', start: '2026-01-05T09:00:00Z', end: '2026-01-05T10:00:00Z' });
    expect(rowsDuringCall).toBe(1);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'sent']);
    const [intent, sent] = rows;
    expect(sent!.intent_id).toBe(intent!.id);
    expect(result.transferId).toBe(intent!.id);
    expect(intent).toMatchObject({
      categories: ['calendar.events'],
      field_names: ['end', 'start', 'title'],
      consent_id: c.id,
      consent_version: 1,
      recipient_account: 'someone@example.test',
      recipient_destination: 'cal-1',
      subjects: { caseIds: [caseA], eventIds: ['e1'] },
      payload_sha256: sha256Hex(canonicalJson(seen)),
      payload_bytes: Buffer.byteLength(canonicalJson(seen)),
      actor: { kind: 'job', jobId: 'job-1', queue: 'sync' },
    });
    expect(sent).toMatchObject({ provider_status: 200, remote_id: 'remote-1' });
  });

  it('blocks a field that belongs to none of the item categories', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const result = await t.services.gate.send(jobCtx(connectionId), event(caseA, { clientSsn: '123' }), async () => ({ value: null }));
    expect(result).toMatchObject({ outcome: 'blocked', reason: 'field_not_in_registry' });
  });

  it('blocks cases outside the consented case scope', async () => {
    const connectionId = await newConnection();
    await consent(t.services, {
      connectionId,
      organizationId: org.organizationId,
      userId: org.member.id,
      categories: ['calendar.events'],
      caseScope: { kind: 'cases', caseIds: [caseA] },
    });
    const ok = await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => ({ value: 1 }));
    const no = await t.services.gate.send(jobCtx(connectionId), event(caseB), async () => ({ value: 2 }));
    expect(ok.outcome).toBe('sent');
    expect(no).toMatchObject({ outcome: 'blocked', reason: 'case_out_of_scope' });
  });

  it('refuses inactive, revoked and platform-disabled connections, and calls without consent', async () => {
    const paused = await newConnection('paused');
    await consent(t.services, { connectionId: paused, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    expect(await t.services.gate.send(jobCtx(paused), event(caseA), async () => ({ value: 0 }))).toMatchObject({ reason: 'connection_not_active' });

    const revoked = await newConnection('revoked');
    expect(await t.services.gate.send(jobCtx(revoked), event(caseA), async () => ({ value: 0 }))).toMatchObject({ reason: 'connection_revoked' });

    const none = await newConnection();
    expect(await t.services.gate.send(jobCtx(none), event(caseA), async () => ({ value: 0 }))).toMatchObject({ reason: 'consent_missing' });

    const withdrawn = await newConnection();
    await consent(t.services, { connectionId: withdrawn, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    await withdrawConsents(t.services, { connectionIds: [withdrawn], actor: org.member.id });
    expect(await t.services.gate.send(jobCtx(withdrawn), event(caseA), async () => ({ value: 0 }))).toMatchObject({ reason: 'consent_withdrawn' });
  });

  it('lets deletes through without consent but only on an active connection (or a revoked one when purging)', async () => {
    const connectionId = await newConnection();
    const del: TransferItem = {
      operation: 'delete',
      categories: ['calendar.events'],
      subjects: { caseIds: [caseA] },
      recipient: { account: null, destination: 'cal-1' },
      fields: {},
    };
    expect((await t.services.gate.send(jobCtx(connectionId), del, async () => ({ value: 0, status: 204 }))).outcome).toBe('sent');
    const revoked = await newConnection('revoked');
    expect(await t.services.gate.send(jobCtx(revoked), del, async () => ({ value: 0 }))).toMatchObject({ reason: 'connection_revoked' });
    expect((await t.services.gate.send(jobCtx(revoked, 'revocation_purge'), del, async () => ({ value: 0 }))).outcome).toBe('sent');
  });

  it('records a failed call with the error class and a scrubbed message, without retrying', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    let calls = 0;
    const boom = Object.assign(new Error('upstream said no for Bearer ya29.abcdefghijklmnopqrstuvwxyz'), { status: 503 });
    const result = await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => {
      calls++;
      throw boom;
    });
    expect(calls).toBe(1);
    expect(result.outcome === 'failed' && result.error).toBe(boom);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    const failed = rows.find((r) => r.outcome === 'failed')!;
    expect(failed).toMatchObject({ provider_status: 503, error_class: 'Error' });
    expect(failed.error_message).not.toContain('ya29');
  });

  it("refuses a transfer's follow-up request once the connection's epoch moved (a revocation begun after its first request)", async () => {
    // A provider that answers 412 to the first request, so the connector makes a follow-up GET.
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(seen.length === 1 ? 412 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const seen: string[] = [];
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = createProviderHttpClient({
      name: 'test',
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      authorize: async () => ({}),
    });
    const twoRequests = (between: () => Promise<void>) => async () => {
      const first = await client.request({ method: 'PATCH', path: '/events/e1', body: {} }).catch((err: ProviderRequestError) => err);
      expect(first).toBeInstanceOf(ProviderRequestError);
      await between();
      await client.request({ method: 'GET', path: '/events/e1' });
      return { value: null, status: 200 };
    };
    try {
      const connectionId = await newConnection();
      await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
      // The epoch unchanged: the follow-up leaves.
      const ok = await t.services.gate.send(
        jobCtx(connectionId),
        event(caseA),
        twoRequests(async () => undefined),
      );
      expect(ok.outcome).toBe('sent');
      expect(seen).toEqual(['PATCH /events/e1', 'GET /events/e1']);
      seen.length = 0;
      // A revocation bumps the epoch between the two requests: the follow-up never leaves.
      const refused = await t.services.gate.send(
        jobCtx(connectionId),
        event(caseA),
        twoRequests(() => bumpRevocationEpoch(t.services.redis, t.config.REDIS_PREFIX, [connectionId])),
      );
      expect(seen).toEqual(['PATCH /events/e1']);
      expect(refused.outcome).toBe('failed');
      expect(refused.outcome === 'failed' && (refused.error as { code?: string }).code).toBe('follow_up_refused');
      expect(refused.outcome === 'failed' && refused.logged).toBe('failed');
      const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
      expect(rows.map((r) => r.outcome)).toEqual(['intent', 'sent', 'intent', 'failed']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('logs inbound imports as received with the subjects the provider returned', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['contacts.import'] });
    const item: TransferItem = {
      direction: 'inbound',
      operation: 'read',
      categories: ['contacts.import'],
      subjects: {},
      recipient: { account: null, destination: 'contacts' },
      fields: { name: true, emails: true },
    };
    const result = await t.services.gate.send(jobCtx(connectionId, 'contacts_import'), item, async (fields) => {
      expect(Object.keys(fields).sort()).toEqual(['emails', 'name']);
      return { value: 2, status: 200, bytes: 512, subjects: { contactIds: ['c1', 'c2'] } };
    });
    expect(result.outcome).toBe('sent');
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => [r.direction, r.outcome])).toEqual([
      ['inbound', 'intent'],
      ['inbound', 'received'],
    ]);
    expect(rows[1]).toMatchObject({ payload_bytes: 512, subjects: { contactIds: ['c1', 'c2'] } });
  });

  it('logs a feed fetch answered 304 as not_modified with the requester kept in its own columns', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const result = await t.services.gate.send(
      { connectionId, purpose: 'ical_feed', actor: { kind: 'feed_fetch', ip: '198.51.100.4', userAgent: 'Calendar/1.0' } },
      { operation: 'publish', categories: ['calendar.events'], subjects: {}, recipient: { account: null, destination: 'feed:1' }, fields: {} },
      async () => ({ value: null, status: 304, notModified: true }),
    );
    expect(result.outcome).toBe('sent');
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'not_modified']);
    expect(rows[1]).toMatchObject({
      payload_bytes: 0,
      provider_status: 304,
      requester_ip: '198.51.100.4',
      requester_user_agent: 'Calendar/1.0',
      actor: { kind: 'feed_fetch' },
    });
  });

  it('records a request that disclosed nothing as one not_modified row, after the same checks (blocked once withdrawn)', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const ctx = { connectionId, purpose: 'ical_feed', actor: { kind: 'feed_fetch' as const, ip: '198.51.100.4', userAgent: 'Calendar/1.0' } };
    const item: TransferItem = {
      operation: 'publish',
      categories: ['calendar.events'],
      subjects: {},
      recipient: { account: null, destination: 'feed:1' },
      fields: {},
    };
    expect(await t.services.gate.record(ctx, item, { providerStatus: 304 })).toMatchObject({ outcome: 'sent', value: null });
    await withdrawConsents(t.services, { connectionIds: [connectionId], actor: org.member.id });
    expect(await t.services.gate.record(ctx, item, { providerStatus: 304 })).toMatchObject({ outcome: 'blocked', reason: 'consent_withdrawn' });
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['not_modified', 'blocked']);
    expect(rows[0]).toMatchObject({
      intent_id: null,
      field_names: [],
      payload_sha256: null,
      payload_bytes: 0,
      provider_status: 304,
      requester_ip: '198.51.100.4',
    });
  });

  it('record with a caller check (proceed): the row waits for it; declined, nothing is written and the lease is released', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const ctx = { connectionId, purpose: 'ical_feed', actor: { kind: 'feed_fetch' as const, ip: null, userAgent: null } };
    const item: TransferItem = {
      operation: 'publish',
      categories: ['calendar.events'],
      subjects: {},
      recipient: { account: null, destination: 'feed:2' },
      fields: {},
    };
    let allow!: (go: boolean) => void;
    const pending = t.services.gate.record(ctx, item, { providerStatus: 304, proceed: new Promise<boolean>((r) => (allow = r)) });
    await new Promise((r) => setTimeout(r, 30));
    // The lease is held while the caller's check runs, and no row is written before it answers.
    expect(await inflightCount(t.services.redis, t.config.REDIS_PREFIX, connectionId)).toBe(1);
    expect((await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId)).toEqual([]);
    allow(true);
    expect(await pending).toMatchObject({ outcome: 'sent', value: null });
    const declined = await t.services.gate.record(ctx, item, { providerStatus: 304, proceed: Promise.resolve(false) });
    expect(declined).toMatchObject({ outcome: 'failed', logged: 'not_sent' });
    await expect(t.services.gate.record(ctx, item, { providerStatus: 304, proceed: Promise.reject(new Error('lookup failed')) })).rejects.toThrow(
      'lookup failed',
    );
    await t.services.gate.settled();
    expect(await inflightCount(t.services.redis, t.config.REDIS_PREFIX, connectionId)).toBe(0);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['not_modified']);
  });

  it('still logs a refusal for a connection whose row was deleted, under its organization', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    expect((await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => ({ value: 1 }))).outcome).toBe('sent');
    await t.services.db.deleteFrom('connections').where('id', '=', connectionId).execute();
    // Whoever changes a connection bumps its epoch (the contract; the cache would otherwise trust it for 5 s).
    await bumpRevocationEpoch(t.services.redis, t.config.REDIS_PREFIX, [connectionId]);
    const result = await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => ({ value: 2 }));
    expect(result).toMatchObject({ outcome: 'blocked', reason: 'connection_revoked' });
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.map((r) => r.outcome)).toEqual(['intent', 'sent', 'blocked']);
  });

  it('sendMany commits the intent of each item before its call (first wave, then the rest) and one outcome per item', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    const blockedItem = { ...event(caseA), categories: ['documents.metadata'] as TransferItem['categories'], fields: { title: 'x' } };
    const items = [event(caseA), event(caseB), blockedItem, event(caseA), event(caseB), event(caseA), event(caseB)];
    const intentCommittedAtCall: boolean[] = [];
    const results = await t.services.gate.sendMany(
      jobCtx(connectionId),
      items,
      async (_f, _item, i) => {
        const transferId = gateScope.getStore()?.transferId;
        const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
        intentCommittedAtCall[i] = rows.some((r) => r.id === transferId && r.outcome === 'intent');
        return { value: i };
      },
      { concurrency: 2 },
    );
    expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'blocked', 'sent', 'sent', 'sent', 'sent']);
    expect(intentCommittedAtCall.filter((x) => x !== undefined)).toEqual([true, true, true, true, true, true]);
    const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
    expect(rows.filter((r) => r.outcome === 'intent')).toHaveLength(6);
    expect(rows.filter((r) => r.outcome === 'sent')).toHaveLength(6);
    expect(rows.filter((r) => r.outcome === 'blocked')).toHaveLength(1);
    // Every sent row completes an intent of this chunk.
    const intents = new Set(rows.filter((r) => r.outcome === 'intent').map((r) => r.id));
    expect(rows.filter((r) => r.outcome === 'sent').every((r) => intents.has(r.intent_id!))).toBe(true);
  });

  it('sendMany makes no call whose intent could not be written, and keeps the outcomes of the calls it made', async () => {
    const connectionId = await newConnection();
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    // A real database refusal for the second write-ahead statement (the rows after the first wave).
    await sql`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.item_key = 'event:poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$`.execute(t.services.db);
    await sql`CREATE TRIGGER refuse_poison BEFORE INSERT ON transfer_log FOR EACH ROW EXECUTE FUNCTION refuse_poison()`.execute(t.services.db);
    try {
      const items = [event(caseA), event(caseB), event(caseA), { ...event(caseB), itemKey: 'event:poison' }];
      const called: number[] = [];
      await expect(
        t.services.gate.sendMany(
          jobCtx(connectionId),
          items,
          async (_f, _item, i) => {
            called.push(i);
            return { value: i, remoteId: `r-${i}` };
          },
          { concurrency: 2 },
        ),
      ).rejects.toThrow(/poisoned row/);
      // The poisoned intent (and any written in the same statement) stopped the chunk: no call without
      // its intent, and every call made has its outcome.
      expect(called).not.toContain(3);
      const rows = (await logRows(t.services, org.organizationId)).filter((r) => r.connection_id === connectionId);
      expect(rows.some((r) => r.item_key === 'event:poison')).toBe(false);
      const intents = rows.filter((r) => r.outcome === 'intent');
      const sent = rows.filter((r) => r.outcome === 'sent');
      expect(sent.map((r) => r.remote_id).sort()).toEqual(called.sort().map((i) => `r-${i}`));
      expect(sent.every((r) => intents.some((i) => i.id === r.intent_id))).toBe(true);
    } finally {
      await sql`DROP TRIGGER refuse_poison ON transfer_log`.execute(t.services.db);
      await sql`DROP FUNCTION refuse_poison()`.execute(t.services.db);
    }
    // The writer recovers: the next chunk goes through on the same chain.
    const again = await t.services.gate.send(jobCtx(connectionId), event(caseA), async () => ({ value: 1 }));
    expect(again.outcome).toBe('sent');
  });

  it('never hands perform a field outside the consented categories (property, through the real gate)', async () => {
    const calendarCategories: CategoryId[] = ['calendar.events', 'calendar.events.details'];
    const eventFields = [...CATEGORIES['calendar.events'].fields, ...CATEGORIES['calendar.events.details'].fields];
    const connectionId = await newConnection();
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(calendarCategories, { minLength: 1 }),
        fc.subarray(calendarCategories),
        fc.dictionary(fc.constantFrom(...eventFields), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.string()))),
        async (consented, itemCategories, fields) => {
          await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: consented });
          const categories = (itemCategories.length ? itemCategories : calendarCategories) as [CategoryId, ...CategoryId[]];
          const declared = allowedFields(categories);
          const item: TransferItem = {
            operation: 'update',
            categories,
            subjects: { caseIds: [caseA] },
            recipient: { account: null, destination: 'cal' },
            fields: Object.fromEntries(Object.entries(fields).filter(([k]) => declared.has(k))),
          };
          let received: Record<string, unknown> | null = null;
          const result = await t.services.gate.send(jobCtx(connectionId), item, async (minimised) => {
            received = minimised;
            return { value: null };
          });
          const allowed = allowedFields(categories.filter((c) => consented.includes(c)));
          if (result.outcome === 'blocked') return received === null && !consented.includes(categories[0]);
          return received !== null && Object.keys(received).every((k) => allowed.has(k));
        },
      ),
      { numRuns: 25 },
    );
  });
});
