import { describe, expect, it } from 'vitest';
import { progressLine } from '../../src/demo/google-calendar-step.ts';

describe('demo sync progress line', () => {
  const base = { planned: { create: 40, update: 5, delete: 1 }, done: { created: 10, updated: 2, deleted: 0, failed: 0, blocked: 0 } };

  it('counts written changes against planned ones while a run is going', () => {
    expect(progressLine({ ...base, state: 'running' }, 600)).toBe("12 of 46 changes written (within Google's 600 requests a minute per user)");
  });

  it('says why a run waits, and says nothing when idle or before a plan exists', () => {
    expect(progressLine({ ...base, state: 'waiting', resumesAt: '2026-12-04T10:00:00.000Z', message: 'rate limited' }, 600)).toBe(
      'waiting until 2026-12-04T10:00:00.000Z: rate limited',
    );
    expect(progressLine({ ...base, state: 'idle' }, 600)).toBeNull();
    expect(progressLine({ state: 'running' }, 600)).toBeNull();
    expect(progressLine(null, 600)).toBeNull();
  });
});
