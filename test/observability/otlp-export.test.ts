import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { inSpan, jobOrigin, otlpHeaders, runWithRequestId, startTracing } from '../../src/observability/tracing.ts';

/**
 * Tracing is off without OTEL_EXPORTER_OTLP_ENDPOINT (no provider registered: spans are not
 * recorded, jobs carry no trace context — but still the request id); with it, spans leave over
 * OTLP/HTTP to `<endpoint>/v1/traces` with the configured headers. The collector here is a plain
 * HTTP server that records what it receives.
 */

describe('tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('registers nothing: spans are not recorded, job data carries the request id only', async () => {
    expect(startTracing({})).toBeNull();
    const recording = await inSpan('noop', {}, async (span) => span.isRecording());
    expect(recording).toBe(false);
    const origin = runWithRequestId('req-123', () => inSpan('enqueue', {}, async () => jobOrigin()));
    expect(await origin).toEqual({ requestId: 'req-123', enqueuedAt: expect.any(Number) });
  });
});

describe('tracing on', () => {
  it('exports spans over OTLP/HTTP to <endpoint>/v1/traces with the configured headers', async () => {
    const received: Array<{ path: string; headers: http.IncomingHttpHeaders; body: Buffer }> = [];
    const collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/`;
    try {
      const tracing = startTracing({
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=k%20123',
        OTEL_SERVICE_NAME: 'cb-test',
      });
      expect(tracing).not.toBeNull();
      const origin = await inSpan('casebridge-export-check', { attributes: { 'casebridge.platform': 'google_calendar' } }, async (span) => {
        expect(span.isRecording()).toBe(true);
        return jobOrigin();
      });
      // The job data names the enqueuing span (W3C trace context).
      expect(origin.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      await tracing!.shutdown(); // flushes the batch
      expect(received.map((r) => r.path)).toEqual(['/v1/traces']);
      expect(received[0]!.headers['x-collector-key']).toBe('k 123');
      const body = received[0]!.body.toString('latin1');
      expect(body).toContain('casebridge-export-check');
      expect(body).toContain('cb-test');
    } finally {
      await new Promise((r) => collector.close(r));
    }
  });
});

describe('tracing configuration', () => {
  it('takes an http(s) collector URL and key=value headers, and refuses anything else', () => {
    const { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: headers } = configSchema.shape;
    expect(['http://otel-collector:4318', 'https://collector.example/otlp'].map((v) => endpoint.safeParse(v).success)).toEqual([true, true]);
    expect(['ftp://collector', 'collector:4318'].map((v) => endpoint.safeParse(v).success)).toEqual([false, false]);
    expect(['authorization=Bearer%20abc', 'a=1, b=2'].map((v) => headers.safeParse(v).success)).toEqual([true, true]);
    expect(headers.safeParse('just-a-token').success).toBe(false);
    expect(otlpHeaders('authorization=Bearer%20abc, x-tenant = t1')).toEqual({ authorization: 'Bearer abc', 'x-tenant': 't1' });
  });
});
