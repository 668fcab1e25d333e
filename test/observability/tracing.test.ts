import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, type Tracing } from '../../src/observability/tracing.ts';
import { bearer } from '../support/fixtures.ts';
import { caseWithEvents, createSyncEnv, GOOGLE_ACCOUNT, type SyncEnv } from '../sync/support/env.ts';

/**
 * One change traced end to end: the ingest request's SERVER span, the enqueue (PRODUCER) inside it,
 * the sync worker's run (CONSUMER, continued from the trace context in the job data) and the gate's
 * CLIENT span of the Google write — the sandbox Google emulator over real HTTP, real Redis and
 * BullMQ. Spans are caught by an in-memory exporter registered as the process's tracer provider,
 * exactly as `startTracing` registers the OTLP one when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let env: SyncEnv;
let connectionId: string;

beforeAll(async () => {
  tracing = startTracing({}, { exporter, processName: 'test' })!;
  env = await createSyncEnv();
  await env.startWorkers();
  connectionId = await env.connect();
  await env.waitIdle();
}, 90_000);
afterAll(async () => {
  await env?.close();
  await tracing?.shutdown();
});

/** The chain of spans from `leaf` up to its root, leaf first. */
function ancestry(leaf: ReadableSpan, spans: ReadableSpan[]): ReadableSpan[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const chain = [leaf];
  for (let s = leaf; s.parentSpanContext; ) {
    const parent = byId.get(s.parentSpanContext.spanId);
    if (!parent) throw new Error(`span ${s.name} has a parent that was not exported`);
    chain.push(parent);
    s = parent;
  }
  return chain;
}

describe('tracing one change', () => {
  it('follows it from the ingest request through the queue to the Google write, in one trace', async () => {
    exporter.reset();
    const ledgerBefore = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    const res = await env.t.app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { ...bearer(env.org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({ items: caseWithEvents({ caseId: 'traced', assignee: env.org.member.email, n: 1 }) }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    await env.waitIdle();
    // The one Google write this change made, seen by the emulator.
    const writes = env.writes(ledgerBefore);
    expect(writes.map((w) => w.method)).toEqual(['POST']);

    const spans = exporter.getFinishedSpans();
    const calls = spans.filter((s) => s.kind === SpanKind.CLIENT && s.attributes['casebridge.platform'] === 'google_calendar');
    expect(calls.map((s) => s.name)).toEqual(['google_calendar create']);
    const call = calls[0]!;
    expect(call.attributes).toMatchObject({ 'casebridge.connection_id': connectionId, 'casebridge.outcome': 'sent', 'http.response.status_code': 200 });

    const chain = ancestry(call, spans);
    expect(chain.map((s) => [s.name, SpanKind[s.kind]])).toEqual([
      ['google_calendar create', 'CLIENT'],
      ['gate.send_many', 'INTERNAL'],
      ['sync process', 'CONSUMER'],
      ['sync publish', 'PRODUCER'],
      ['POST /v1/ingest/bulk', 'SERVER'],
    ]);
    // One trace from the request to the write.
    expect(new Set(chain.map((s) => s.spanContext().traceId)).size).toBe(1);
    const [, , run, publish, request] = chain;
    expect(request!.attributes).toMatchObject({ 'http.route': '/v1/ingest/bulk', 'http.response.status_code': 200, 'casebridge.request_id': requestId });
    expect(publish!.attributes).toMatchObject({ 'messaging.destination.name': 'sync', 'casebridge.reason': 'change' });
    // The request id travelled in the job data to the worker.
    expect(run!.attributes).toMatchObject({ 'casebridge.request_id': requestId, 'casebridge.connection_id': connectionId, 'casebridge.reason': 'change' });
    // In order: the request began before the run, the run before the call; the call ended inside the run.
    const t = (h: [number, number]) => h[0] * 1e9 + h[1];
    expect(t(request!.startTime)).toBeLessThanOrEqual(t(run!.startTime));
    expect(t(run!.startTime)).toBeLessThanOrEqual(t(call.startTime));
    expect(t(call.endTime)).toBeLessThanOrEqual(t(run!.endTime));
  }, 60_000);

  it('puts no secret, account or case data in any span', async () => {
    const text = JSON.stringify(exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    expect(text.length).toBeGreaterThan(100);
    for (const token of env.sandbox.state.tokens.keys()) expect(text).not.toContain(token);
    expect(text).not.toContain(env.org.apiKey);
    expect(text).not.toContain(GOOGLE_ACCOUNT);
    expect(text).not.toMatch(/Hearing|PI-traced|Witness|strategy/);
  });

  it('follows a revocation from the DELETE request to the revoke worker', async () => {
    exporter.reset();
    const res = await env.t.app.request(`/v1/connections/${connectionId}`, { method: 'DELETE', headers: env.member });
    expect(res.status).toBe(202);
    const requestId = res.headers.get('x-request-id');
    const deadline = Date.now() + 30_000;
    let run: ReadableSpan | undefined;
    while (!run && Date.now() < deadline) {
      run = exporter.getFinishedSpans().find((s) => s.name === 'revoke process');
      if (!run) await new Promise((r) => setTimeout(r, 100));
    }
    expect(run, 'the revoke job ran').toBeDefined();
    const chain = ancestry(run!, exporter.getFinishedSpans());
    expect(chain.map((s) => [s.name, SpanKind[s.kind]])).toEqual([
      ['revoke process', 'CONSUMER'],
      ['revoke publish', 'PRODUCER'],
      ['DELETE /v1/connections/:id', 'SERVER'],
    ]);
    expect(run!.attributes['casebridge.request_id']).toBe(requestId);
  }, 60_000);
});
