import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../src/observability/metrics.ts';
import '../../src/observability/state-metrics.ts';

/**
 * The Grafana dashboard in the repository (deploy/grafana/casebridge.json) queries exactly the metric
 * names the service registers: a renamed metric or label fails here, not on an operator's screen.
 */

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(fs.readFileSync(new URL('../../deploy/grafana/casebridge.json', import.meta.url), 'utf8')) as { panels: Panel[]; uid: string };
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

/** A registered metric and the label names it has (prom-client keeps them on the metric). */
function registered(name: string): { type: string; labels: string[] } | null {
  const m = metricsRegistry.getSingleMetric(name) as unknown as { labelNames?: string[]; constructor: { name: string } } | undefined;
  return m ? { type: m.constructor.name, labels: m.labelNames ?? [] } : null;
}

/** The registered metric a queried series belongs to (`_bucket`, `_count`, `_sum` of a histogram). */
function metricOf(series: string): string | null {
  if (registered(series)) return series;
  const base = series.replace(/_(bucket|count|sum)$/, '');
  return base !== series && registered(base)?.type === 'Histogram' ? base : null;
}

describe('Grafana dashboard', () => {
  it('has panels with queries', () => {
    expect(dashboard.uid).toBe('casebridge');
    expect(queries.length).toBeGreaterThanOrEqual(15);
  });

  it('queries only metric names the registry has', () => {
    const unknown = queries.flatMap((q) => [...q.expr.matchAll(/\bcasebridge_[a-z0-9_]+/g)].map((m) => m[0]).filter((s) => metricOf(s) === null));
    expect(unknown).toEqual([]);
  });

  it('groups and filters only by labels those metrics have', () => {
    const wrong: string[] = [];
    for (const q of queries) {
      const series = [...q.expr.matchAll(/\bcasebridge_[a-z0-9_]+/g)].map((m) => m[0]);
      const allowed = new Set(series.flatMap((s) => [...(registered(metricOf(s) ?? '')?.labels ?? []), ...(s.endsWith('_bucket') ? ['le'] : [])]));
      const used = [
        ...[...q.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim())),
        ...[...q.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-z_]+)\s*[=!~]/g)].map((l) => l[1]!)),
      ];
      for (const label of used) if (label && !allowed.has(label)) wrong.push(`${q.panel}: ${label}`);
    }
    expect(wrong).toEqual([]);
  });

  it('shows every casebridge metric the service registers', async () => {
    const names = (await metricsRegistry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('casebridge_'));
    const shown = new Set(queries.flatMap((q) => [...q.expr.matchAll(/\bcasebridge_[a-z0-9_]+/g)].map((m) => metricOf(m[0]))));
    expect(names.filter((n) => !shown.has(n))).toEqual([]);
    expect(names.length).toBeGreaterThanOrEqual(15);
  });
});
