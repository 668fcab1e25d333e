import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { subWindow } from '../../queues/rate-limit.ts';

describe('provider budget sub-windows', () => {
  it('gives 19 requests per 2 s for 600/min: 95% of the quota', () => {
    expect(subWindow({ limit: 600, windowMs: 60_000 })).toEqual({ durationSec: 2, points: 19 });
    expect(subWindow({ limit: 10_000, windowMs: 60_000 })).toEqual({ durationSec: 2, points: 322 });
    expect(subWindow({ limit: 100, windowMs: 10_000 })).toEqual({ durationSec: 1, points: 9 });
  });

  it('never lets a sliding window of the provider see more than its limit, even with bursts at sub-window edges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 100_000 }), fc.integer({ min: 10, max: 3600 }), (limit, windowSec) => {
        const { durationSec, points } = subWindow({ limit, windowMs: windowSec * 1000 });
        // A sliding window of windowSec overlaps at most ceil(windowSec / durationSec) + 1 sub-windows.
        const overlapped = Math.ceil(windowSec / durationSec) + 1;
        expect(points * overlapped).toBeLessThanOrEqual(limit);
        expect(points).toBeGreaterThan(0);
      }),
    );
  });
});
