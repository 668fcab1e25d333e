import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withEarlierRuns } from '../../bench/chaos.ts';

/**
 * `npm run chaos` used to write RELIABILITY.md whole: each run erased the record of the runs before
 * it, notes included (found when a run of 2026-12-06 had to have the earlier runs put back by hand).
 * The new file keeps them: the replaced run summed up in one entry under "Earlier runs", above the
 * entries that were there.
 */

const report = (at: string, missing: number, verdict: string) => `# Reliability: the chaos run

\`npm run chaos\` (bench/chaos.ts) — ${at}, Node v24.11.0, 2 cores, load average 1 at the start, 1 at the end (1-minute).

| result | value | goal |
|---|---|---|
| missing | ${missing} | 0 |
| duplicates | 0 | 0 |
| provider writes vs transfer log (items checked: 12000; writes covered by an \`unverifiable\` resolution: 0) | 0 mismatches | 0 unlogged, 0 phantom |
| requests for a revoked connection after its 202 (besides the revocation's own reads of the transfers its receipt lists as of unknown outcome: 2) | 0 | 0 |
| \`transfers verify\` (rows checked: 40000) | passes | passes |
| whole run | 221.5 s | |

Verdict: **${verdict}**.

<!-- end of the generated report; notes on this run may follow -->
`;

describe('RELIABILITY.md across chaos runs', () => {
  it('keeps the replaced run (its figures and the note after it) and every earlier entry', () => {
    const first = withEarlierRuns(report('2026-12-07T10:00:00.000Z', 0, 'no loss'), '');
    expect(first).not.toContain('## Earlier runs');
    const noted = `${first}\nA maintainer's note\non two lines.\n`;
    const second = withEarlierRuns(report('2026-12-07T11:30:00.000Z', 3, 'FAILED'), noted);
    expect(second.startsWith(report('2026-12-07T11:30:00.000Z', 3, 'FAILED').trimEnd())).toBe(true);
    expect(second).toContain(
      "- 2026-12-07 10:00 UTC (221.5 s): no loss — missing 0, duplicates 0, provider writes vs log 0 mismatches, requests after a 202 0, `transfers verify` passes.\n  A maintainer's note\n  on two lines.",
    );
    const third = withEarlierRuns(report('2026-12-07T12:00:00.000Z', 0, 'no loss'), second);
    const earlier = third.slice(third.indexOf('## Earlier runs'));
    expect(earlier.indexOf('2026-12-07 11:30 UTC (221.5 s): FAILED — missing 3')).toBeGreaterThan(0);
    expect(earlier.indexOf('2026-12-07 11:30')).toBeLessThan(earlier.indexOf('2026-12-07 10:00'));
    expect(third.match(/## Earlier runs/g)).toHaveLength(1);
  });

  it('carries the committed RELIABILITY.md forward: its earlier runs, its run and the note under it', () => {
    const committed = fs.readFileSync(new URL('../../RELIABILITY.md', import.meta.url), 'utf8');
    const next = withEarlierRuns(report('2026-12-08T09:00:00.000Z', 0, 'no loss'), committed);
    const at = committed.indexOf('## Earlier runs');
    if (at >= 0) expect(next).toContain(committed.slice(at + '## Earlier runs'.length).trim());
    const when = /— (\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(committed)!;
    expect(next).toContain(`- ${when[1]} ${when[2]} UTC (`);
    // The note written under the replaced run (after its end marker, or its verdict in older files) goes with it.
    const marker = committed.indexOf('<!-- end of the generated report');
    const from = marker >= 0 ? committed.indexOf('\n', marker) : committed.indexOf('\n', committed.indexOf('Verdict:'));
    const note = committed.slice(from, at >= 0 ? at : undefined).trim();
    if (note) expect(next.slice(next.indexOf('## Earlier runs'))).toContain(note.split('\n')[0]!);
  });
});
