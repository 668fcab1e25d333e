import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveLimit, ProviderRateLimiter, type RateBudget } from '../../queues/rate-limit.ts';

/** The provider budgets as a sliding-window log on a real Redis, with a clock the test moves. */
describe('provider rate limiter (sliding-window log)', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    }
    await redis.quit();
  });

  const limiter = (perAccount: RateBudget, perProject: RateBudget = { limit: 1_000_000_000, windowMs: 60_000 }) => {
    const clock = { t: 1_000_000 };
    const prefix = `t-rl-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    const l = new ProviderRateLimiter({ redis, prefix, platform: 'google_calendar', perAccount, perProject, now: () => clock.t });
    return { l, clock };
  };

  it('grants an idle account its whole budget (95% of the limit) at once, then waits for the oldest request to leave the window', async () => {
    const { l, clock } = limiter({ limit: 600, windowMs: 60_000 });
    expect(effectiveLimit({ limit: 600, windowMs: 60_000 })).toBe(570);
    for (let i = 0; i < 11; i++) expect(await l.acquire('a', 50)).toEqual({ ok: true }); // 550
    clock.t += 10_000;
    expect(await l.acquire('a', 20)).toEqual({ ok: true }); // 570, ten seconds later
    const refused = await l.acquire('a', 1);
    expect(refused.ok).toBe(false);
    // The first 550 leave the window 60 s after they were taken, i.e. 50 s from now.
    expect(refused.ok === false && refused.waitMs).toBe(50_001);
    // Another account has its own budget.
    expect(await l.acquire('b', 50)).toEqual({ ok: true });
    clock.t += 50_001; // the first 550 have left; the 20 taken at +10 s are still in the window
    for (let i = 0; i < 11; i++) expect(await l.acquire('a', 50)).toEqual({ ok: true }); // 20 + 550 = 570
    // A chunk waits for as many old requests as it needs: 20 leave in 10 s, but 50 must leave, so it
    // waits for the batch taken just now.
    clock.t += 1;
    expect(await l.acquire('a', 20)).toEqual({ ok: false, waitMs: 10_000 - 1 - 1 + 1 });
    expect(await l.acquire('a', 50)).toEqual({ ok: false, waitMs: 60_000 - 1 + 1 });
  });

  it('takes from both budgets or from neither', async () => {
    const { l } = limiter({ limit: 100, windowMs: 10_000 }, { limit: 60, windowMs: 10_000 });
    expect(l.maxPerAcquire).toBe(57);
    expect(await l.acquire('a', 50)).toEqual({ ok: true });
    expect((await l.acquire('b', 50)).ok).toBe(false); // the project budget has 7 left
    expect(await l.acquire('b', 7)).toEqual({ ok: true });
    // The refusal took nothing from b's own budget: b has 95 - 7 = 88 left once the project has room.
  });

  it('counts charged requests, and a pause holds the account for its length', async () => {
    const { l, clock } = limiter({ limit: 20, windowMs: 1_000 });
    await l.charge('a', 19);
    expect((await l.acquire('a', 1)).ok).toBe(false);
    clock.t += 1_001;
    expect(await l.acquire('a', 1)).toEqual({ ok: true });
    await l.pause('a', 5_000);
    const paused = await l.acquire('a', 1);
    expect(paused.ok === false && paused.waitMs).toBeGreaterThan(4_000);
    await l.pause('a', 10); // a shorter pause does not shorten the running one
    expect((await l.acquire('a', 1)).ok).toBe(false);
  });

  it('pauses for a usage limit 1 h, 2 h, 4 h… up to 24 h across restarts, not growing while in force, and starts over after a successful write', async () => {
    const { l } = limiter({ limit: 600, windowMs: 60_000 });
    const prefix = prefixes.at(-1)!;
    const pauseKey = `${prefix}:rlog:google_calendar:pause:a`;
    const HOUR = 3_600_000;
    /** The pause ran out: what an hour (or two…) of waiting does to the pause key. */
    const pauseEnds = () => redis.del(pauseKey);
    expect(await l.usageLimited('a', HOUR)).toBe(HOUR);
    const paused = await l.acquire('a', 1);
    expect(paused.ok === false && paused.waitMs).toBeGreaterThan(HOUR - 5_000);
    // Calls that were under way report the same limit: the running pause does not grow.
    expect(await l.usageLimited('a', HOUR)).toBeLessThanOrEqual(HOUR);
    // A write succeeding during the pause (a call already under way) does not reset the level.
    expect(await l.usageCleared('a')).toBe(false);
    await pauseEnds();
    // A restarted worker (a new limiter on the same Redis) keeps the level.
    const restarted = new ProviderRateLimiter({
      redis,
      prefix,
      platform: 'google_calendar',
      perAccount: { limit: 600, windowMs: 60_000 },
      perProject: { limit: 1_000_000_000, windowMs: 60_000 },
    });
    expect(await restarted.usageLimited('a', HOUR)).toBe(2 * HOUR);
    const grown = [];
    for (let i = 0; i < 4; i++) {
      await pauseEnds();
      grown.push(await restarted.usageLimited('a', HOUR));
    }
    expect(grown).toEqual([4 * HOUR, 8 * HOUR, 16 * HOUR, 24 * HOUR]);
    expect(await redis.pttl(pauseKey)).toBeGreaterThan(24 * HOUR - 5_000);
    // Another account is not paused.
    expect(await l.acquire('b', 1)).toEqual({ ok: true });
    // The pause ends and a write succeeds: the next usage limit pauses for the base time again.
    await pauseEnds();
    expect(await restarted.usageCleared('a')).toBe(true);
    expect(await l.usageLimited('a', HOUR)).toBe(HOUR);
  });

  it('never refuses an unlimited budget and stores nothing for it', async () => {
    const { l } = limiter({ limit: 1_000_000_000, windowMs: 60_000 });
    for (let i = 0; i < 5; i++) expect(await l.acquire('a', 1_000)).toEqual({ ok: true });
    expect(await redis.keys(`${prefixes.at(-1)}:*`)).toEqual([]);
  });

  it('never lets a sliding window see more than the budget, and a refusal says truly when to come back (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ points: fc.integer({ min: 1, max: 30 }), advance: fc.integer({ min: 0, max: 4_000 }) }), { minLength: 1, maxLength: 40 }),
        async (ops) => {
          const budget = { limit: 50, windowMs: 10_000 };
          const { l, clock } = limiter(budget);
          const cap = effectiveLimit(budget);
          const granted: Array<{ t: number; n: number }> = [];
          for (const op of ops) {
            clock.t += op.advance;
            const r = await l.acquire('a', op.points);
            const inWindow = (t: number) => granted.filter((g) => g.t > t - budget.windowMs && g.t <= t).reduce((a, g) => a + g.n, 0);
            if (r.ok) {
              granted.push({ t: clock.t, n: op.points });
              expect(inWindow(clock.t)).toBeLessThanOrEqual(cap);
            } else {
              // Refused only when it really would not fit, and it fits at the time it names.
              expect(inWindow(clock.t) + op.points).toBeGreaterThan(cap);
              expect(inWindow(clock.t + r.waitMs) + op.points).toBeLessThanOrEqual(cap);
              expect(inWindow(clock.t + r.waitMs - 2) + op.points).toBeGreaterThan(cap);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
