import type { Db } from '../../../src/db/database.ts';

/**
 * The transfer log against the provider's ledger, per item: every provider write has one `sent` row or
 * one `unknown` row resolved — to `took_effect`, or `unverifiable` where reading the provider could
 * not tell (Google keeps no history: an overwritten write, two calls that may have created the same
 * event) — and no `sent` or `took_effect` row lacks a write. So per item: sent + took_effect ≤ writes ≤
 * sent + took_effect + unverifiable. Returns the mismatches (empty when the invariant holds), the
 * number of items compared and how many `unverifiable` resolutions the bound had to use.
 */
export async function ledgerMismatches(params: {
  db: Db;
  connectionIds: string[];
  /** Google calendar writes of the sandbox ledger (path and the written object). */
  writes: Array<{ path: string; object?: unknown }>;
}): Promise<{ mismatches: string[]; items: number; unverifiableUsed: number }> {
  const rows = await params.db
    .selectFrom('transfer_log')
    .select(['connection_id', 'item_key', 'outcome', 'reason'])
    .where('connection_id', 'in', params.connectionIds)
    .where('purpose', '=', 'calendar_sync')
    .execute();
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const writes = new Map<string, number>();
  for (const w of params.writes) {
    if (!w.path.includes('/events')) continue;
    const p = (w.object as { extendedProperties?: { private?: { casebridgeEventId?: string; casebridgeConnectionId?: string } } }).extendedProperties?.private;
    count(writes, `${p?.casebridgeConnectionId}/event:${p?.casebridgeEventId}`);
  }
  const logged = new Map<string, number>();
  const unverifiable = new Map<string, number>();
  const outcomes = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.item_key?.startsWith('event:')) continue;
    const key = `${r.connection_id}/${r.item_key}`;
    outcomes.set(key, [...(outcomes.get(key) ?? []), r.reason ? `${r.outcome} (${r.reason})` : r.outcome]);
    if (r.outcome === 'sent' || (r.outcome === 'resolved' && r.reason === 'took_effect')) count(logged, key);
    if (r.outcome === 'resolved' && r.reason === 'unverifiable') count(unverifiable, key);
  }
  const keys = [...new Set([...writes.keys(), ...logged.keys()])].sort();
  const fits = (k: string) => {
    const w = writes.get(k) ?? 0;
    const l = logged.get(k) ?? 0;
    return l <= w && w <= l + (unverifiable.get(k) ?? 0);
  };
  return {
    mismatches: keys
      .filter((k) => !fits(k))
      .map((k) => `${k}: ${writes.get(k) ?? 0} writes, ${logged.get(k) ?? 0} logged (rows: ${outcomes.get(k)?.join(', ') || 'none'})`),
    items: keys.length,
    unverifiableUsed: keys.reduce((n, k) => n + (writes.get(k) ?? 0) - (logged.get(k) ?? 0), 0),
  };
}
