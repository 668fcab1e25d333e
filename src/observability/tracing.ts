import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

/**
 * OpenTelemetry traces: one trace follows a change from the API request through the queue (the
 * trace context and the request id ride in the job data, see {@link jobOrigin}) to the worker's run
 * and each provider call made through the outbound gate.
 *
 * Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then no tracer provider is registered, the API's
 * tracer is the no-op one (spans are not recorded, nothing is exported) and the only cost left is
 * the request-id context below. On, spans go over OTLP/HTTP (`<endpoint>/v1/traces`) in batches.
 *
 * Span attributes are ids and bounded classes only (route templates, never paths: a feed URL carries
 * its token; never tokens, accounts, payloads or error messages).
 */

export const TRACER_NAME = 'casebridge';

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/** Whether this process records spans (see {@link startTracing}). */
let recording = false;

/** The span {@link inSpan} hands out while tracing is off: records nothing, as the no-op tracer's. */
const NOT_RECORDING: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export interface Tracing {
  /** Flushes the spans still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for this process when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or a test passes its own
 * exporter, e.g. `InMemorySpanExporter`); returns null (tracing off) otherwise. Call once, first.
 */
export function startTracing(
  config: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_EXPORTER_OTLP_HEADERS?: string | undefined; OTEL_SERVICE_NAME?: string | undefined },
  options: { exporter?: SpanExporter; processName?: string } = {},
): Tracing | null {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint && !options.exporter) return null;
  const exporter =
    options.exporter ?? new OTLPTraceExporter({ url: `${endpoint!.replace(/\/+$/, '')}/v1/traces`, headers: otlpHeaders(config.OTEL_EXPORTER_OTLP_HEADERS) });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? 'casebridge',
      [ATTR_SERVICE_VERSION]: process.env.npm_package_version ?? '0.1.0',
      ...(options.processName ? { 'casebridge.process': options.processName } : {}),
    }),
    // A test's exporter sees every span at once; a real one gets batches off the hot path.
    spanProcessors: [options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  // Registers the provider, the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  recording = true;
  return {
    async shutdown() {
      recording = false;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** `key=value,key2=value2` (values URL-encoded, as the OpenTelemetry spec has it) → headers. */
export function otlpHeaders(spec: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (spec ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const value = pair.slice(at + 1).trim();
    let decoded = value;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      // Not URL-encoded: taken as it is.
    }
    headers[pair.slice(0, at).trim()] = decoded;
  }
  return headers;
}

/** The request id of the API request (or of the job's originating request) this code runs for. */
const requestScope = new AsyncLocalStorage<{ requestId: string }>();

export function runWithRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId ? requestScope.run({ requestId }, fn) : fn();
}

export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}

/**
 * Where a job came from, carried in its data: the request id, the W3C trace context of the span
 * that enqueued it (absent with tracing off) and when it was enqueued (the sync lag's start).
 */
export interface JobOrigin {
  requestId?: string;
  traceparent?: string;
  tracestate?: string;
  enqueuedAt: number;
}

/** The origin of a job enqueued now, from the active context. */
export function jobOrigin(): JobOrigin {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const requestId = currentRequestId();
  return {
    ...(requestId ? { requestId } : {}),
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
    enqueuedAt: Date.now(),
  };
}

/** The context a job's processing continues: the enqueuer's span as parent (root when none). */
export function originContext(origin: Partial<JobOrigin> | undefined): Context {
  if (!origin?.traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent: origin.traceparent, ...(origin.tracestate ? { tracestate: origin.tracestate } : {}) });
}

/** The context of an incoming request: its `traceparent` (a traced caller or gateway) or the root. */
export function incomingContext(headers: Headers): Context {
  const traceparent = headers.get('traceparent');
  if (!traceparent) return ROOT_CONTEXT;
  const tracestate = headers.get('tracestate');
  return propagation.extract(ROOT_CONTEXT, { traceparent, ...(tracestate ? { tracestate } : {}) });
}

/**
 * Runs `fn` in a new active span (child of the active context, or of `parent`), ending it when `fn`
 * settles; a thrown error sets the span's status with its class name only (messages can carry data).
 */
export function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context; isError?: (err: unknown) => boolean },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  // Off (the default): no span to start, no context to enter — every provider call passes here.
  if (!recording) return fn(NOT_RECORDING);
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      if (options.isError?.(err) ?? true) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute('error.type', err instanceof Error ? err.name : typeof err);
      }
      throw err;
    } finally {
      span.end();
    }
  });
}

export { SpanKind, SpanStatusCode };
