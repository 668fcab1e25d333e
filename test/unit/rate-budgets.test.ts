import { describe, expect, it } from 'vitest';
import { connectorConfigFor } from '../../connectors/config-fragments.ts';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import { rateBudgets } from '../../queues/rate-limit.ts';
import { loadConfig } from '../../src/config/load.ts';

/** Rate budgets are manifest data; the limiter's setup knows no platform. */
describe('rate budgets from manifests', () => {
  it('reads a platform quota as plain manifest lines (600 per 60 s per account, 10,000 per 60 s per project)', () => {
    const b = rateBudgets({ declared: googleCalendar.manifest.rateBudgets });
    expect(b).toEqual({ perAccount: { limit: 600, windowMs: 60_000 }, perProject: { limit: 10_000, windowMs: 60_000 } });
  });

  it('expresses a ten-minute window and a concurrency limit the same way', () => {
    const b = rateBudgets({ declared: { perAccount: { limit: 10_000, windowSeconds: 600, concurrency: 4 } } });
    expect(b.perAccount).toEqual({ limit: 10_000, windowMs: 600_000 });
    expect(b.perProject.limit).toBeGreaterThanOrEqual(100_000_000);
  });

  it('lets the variable the config fragment names raise a limit', () => {
    const config = loadConfig({ GOOGLE_USER_RATE_PER_MINUTE: '1200' });
    const b = rateBudgets({ declared: googleCalendar.manifest.rateBudgets, overrides: connectorConfigFor('google_calendar')?.rateBudgetVariables, config });
    expect(b.perAccount).toEqual({ limit: 1200, windowMs: 60_000 });
    expect(b.perProject).toEqual({ limit: 10_000, windowMs: 60_000 });
  });

  it('treats a platform without budgets as unlimited', () => {
    const b = rateBudgets({ declared: undefined });
    expect(b.perAccount.limit).toBeGreaterThanOrEqual(100_000_000);
  });
});
