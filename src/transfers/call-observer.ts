import { providerCallDuration, providerCalls, providerErrorClass, statusClass } from '../observability/metrics.ts';
import { inSpan, SpanKind } from '../observability/tracing.ts';
import { failedCallOutcome, networkFailureOf } from './errors.ts';

/**
 * What the gate reports about each provider call it makes: a CLIENT span (child of the active one:
 * the worker's run, the API request) and the `casebridge_provider_calls_total` /
 * `casebridge_provider_call_duration_seconds` metrics, by platform, status class and a bounded error
 * class. A call refused before any request left (the connector said `notSent`) is not a provider
 * call and is not counted. Attributes are ids and classes only — never fields, accounts or messages.
 */
export function observeProviderCall<T extends { status?: number | null }>(
  params: { platform: string | null; operation: string; transferId: string; connectionId: string; purpose: string },
  call: () => Promise<T>,
): Promise<T> {
  const platform = params.platform ?? 'unknown';
  const started = performance.now();
  const record = (status: number | null, network: string | null, ok: boolean) => {
    providerCalls.inc({ platform, status_class: statusClass(status), error_class: providerErrorClass({ ok, status, network }) });
    providerCallDuration.observe({ platform }, (performance.now() - started) / 1000);
  };
  return inSpan(
    `${platform} ${params.operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'casebridge.platform': platform,
        'casebridge.operation': params.operation,
        'casebridge.transfer_id': params.transferId,
        'casebridge.connection_id': params.connectionId,
        'casebridge.purpose': params.purpose,
      },
    },
    async (span) => {
      try {
        const done = await call();
        record(done.status ?? null, null, true);
        if (typeof done.status === 'number') span.setAttribute('http.response.status_code', done.status);
        span.setAttribute('casebridge.outcome', 'sent');
        return done;
      } catch (err) {
        const { outcome, summary } = failedCallOutcome(err);
        const network = networkFailureOf(err);
        if (outcome !== 'not_sent' || network) record(summary.providerStatus, network, false);
        if (summary.providerStatus !== null) span.setAttribute('http.response.status_code', summary.providerStatus);
        span.setAttribute('casebridge.outcome', outcome);
        throw err;
      }
    },
  );
}
