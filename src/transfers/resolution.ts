import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { ConnectorOAuth } from '../connections/oauth-types.ts';
import { connectionTokens, tokensOfConnection } from '../connections/token-access.ts';
import type { StoredTokens } from '../connections/token-vault.ts';
import type { Services } from '../services.ts';
import { scrubSecrets } from './errors.ts';
import type { OutboundGateImpl } from './gate.ts';
import { gateScope } from './gate-scope.ts';
import { LEASE_TTL_MS } from './inflight.ts';
import { type ChainedEntry, cleanText, rowToEntry } from './log-entry.ts';
import { TransferLogWriter } from './log-writer.ts';

/**
 * Resolving what the log could not know at the time.
 *
 * A call whose answer never came (a timeout, a connection lost mid-request, a process killed during
 * the call, an outcome row that could not be written) may or may not have changed the provider's data.
 * The log says so — outcome `unknown` — and then finds out: the platform's {@link WriteCheck} reads
 * the provider (Google Calendar: GET the deterministic event id) and a `resolved` row linked to the
 * intent (`intent_id`) records the verdict in `reason`: `took_effect`, `did_not_take_effect`, or
 * `unverifiable` (no check for the platform, or the provider can no longer be asked — e.g. the grant
 * was revoked and the tokens shredded — after {@link GIVE_UP_AFTER_MS}).
 *
 * {@link recoverOpenTransfers} (the `recover-transfers` maintenance task, every minute) closes the
 * log: an intent older than the lease deadline ({@link LEASE_TTL_MS}: no live call can still be
 * holding it) without an outcome gets an `unknown` row, then every `unknown` without a resolution is
 * resolved. After a crash and one run of the job, no intent is left open. The invariant a ledger
 * comparison checks: every provider write has a `sent` row or an `unknown` row resolved to
 * `took_effect`; no `sent` row lacks a write.
 *
 * The read runs inside the gate's scope under the transfer it resolves (purpose
 * `outcome_resolution`): it sends no case data — only identifiers the intent already sent — and its
 * record is the resolution row itself.
 */

/** What reading the provider says about one write. */
export type WriteVerdict = 'took_effect' | 'did_not_take_effect' | 'unverifiable';

/**
 * A platform's "did this write take effect?" check (registered by its connector). It sees the
 * narrow services a connector may use and the intent's connection's tokens (null when the platform
 * has none or the intent has no connection).
 */
export type WriteCheck = (params: {
  services: Pick<Services, 'db' | 'config' | 'gate' | 'blobs' | 'logger'>;
  intent: ChainedEntry;
  tokens: { stored(): Promise<StoredTokens | null>; accessToken(): Promise<string> } | null;
}) => Promise<WriteVerdict>;

const checks = new Map<string, { check: WriteCheck; oauth: ConnectorOAuth | null }>();

/**
 * Registers a platform's write check (connectors do, next to their other hooks), with the platform's
 * OAuth specifics when it has tokens. Replaces an earlier one.
 */
export function registerWriteCheck(platform: string, check: WriteCheck, oauth: ConnectorOAuth | null = null): void {
  checks.set(platform, { check, oauth });
}

/** The registered check of a platform, if any. */
export function writeCheckFor(platform: string | null): WriteCheck | undefined {
  return platform ? checks.get(platform)?.check : undefined;
}

/** The purpose a resolution read runs under (the gate scope's `purpose`). */
export const RESOLUTION_PURPOSE = 'outcome_resolution';

/** A check that keeps failing for this long after the intent resolves as `unverifiable`. */
export const GIVE_UP_AFTER_MS = 24 * 3600_000;

function writerOf(services: Services): TransferLogWriter {
  return (services.gate as Partial<OutboundGateImpl>).log ?? new TransferLogWriter(services.db);
}

/** The row that closes an intent: `unknown` (no answer) or `resolved` (with its verdict). */
function closingRow(
  intent: ChainedEntry,
  outcome: 'unknown' | 'resolved',
  details: { reason?: string | null; errorClass?: string | null; errorMessage?: string | null },
) {
  const { seq: _seq, prevHash: _prev, hash: _hash, ...entry } = intent;
  return {
    ...entry,
    id: randomUUID(),
    intentId: intent.id,
    outcome,
    providerStatus: null,
    remoteId: null,
    durationMs: null,
    reason: details.reason ?? null,
    errorClass: details.errorClass ?? null,
    errorMessage: details.errorMessage ?? null,
    createdAt: new Date(),
  };
}

/**
 * Reads the provider about one intent (whose outcome is `unknown`) and appends the `resolved` row.
 * Returns the verdict, or null when the check failed and should be retried later.
 */
export async function resolveTransfer(services: Services, intent: ChainedEntry, now = Date.now()): Promise<WriteVerdict | null> {
  const registered = intent.platform ? checks.get(intent.platform) : undefined;
  const check = registered?.check;
  let verdict: WriteVerdict;
  let note: string | null = null;
  if (!check) {
    verdict = 'unverifiable';
    note = `no write check is registered for platform ${intent.platform ?? 'unknown'}`;
  } else {
    try {
      verdict = await gateScope.run({ transferId: intent.id, connectionId: intent.connectionId ?? '', purpose: RESOLUTION_PURPOSE }, () =>
        check({
          services,
          intent,
          tokens:
            registered?.oauth && intent.connectionId
              ? tokensOfConnection(connectionTokens(services, registered.oauth, intent.platform!), intent.connectionId)
              : null,
        }),
      );
    } catch (err) {
      if (now - intent.createdAt.getTime() < GIVE_UP_AFTER_MS) {
        services.logger.warn(
          { transferId: intent.id, err: scrubSecrets((err as Error).message ?? String(err)) },
          'could not resolve a transfer of unknown outcome yet',
        );
        return null;
      }
      verdict = 'unverifiable';
      note = cleanText(`the provider could not be read: ${scrubSecrets((err as Error).message ?? String(err))}`, 500);
    }
  }
  await writerOf(services).append([closingRow(intent, 'resolved', { reason: verdict, errorMessage: note })]);
  return verdict;
}

/** A revocation's view of one call that was in flight when it answered. */
export interface InFlightResolution {
  transferId: string;
  /** `sent`/`failed`/`not_sent`: the call answered after all; else the verdict of reading the provider. */
  resolution: 'sent' | 'failed' | 'not_sent' | WriteVerdict | 'unresolved';
}

/**
 * Waits until each of these transfers (intent ids) is settled and says how it ended: its own outcome
 * when the call answered (`sent`, `failed`, `not_sent`), else — once the settle time has passed since
 * the intent — it is closed as `unknown` if it was still open and resolved by reading the provider.
 * Used by the revocation pipeline for the calls still in flight when the revocation answered.
 */
export async function settleTransfers(
  services: Services,
  transferIds: string[],
  options: { settleMs?: number; pollMs?: number; maxWaitMs?: number } = {},
): Promise<InFlightResolution[]> {
  const settleMs = options.settleMs ?? services.config.TRANSFER_UNKNOWN_SETTLE_MS;
  // A provider that cannot be read for a while: give up here (`unresolved`); the recovery job goes on trying.
  const giveUpAt = Date.now() + (options.maxWaitMs ?? settleMs + 60_000);
  const done = new Map<string, InFlightResolution['resolution']>();
  while (done.size < transferIds.length && Date.now() < giveUpAt) {
    const pending = transferIds.filter((id) => !done.has(id));
    const rows = (
      await services.db
        .selectFrom('transfer_log')
        .selectAll()
        .where((eb) => eb.or([eb('id', 'in', pending), eb('intent_id', 'in', pending)]))
        .orderBy('seq')
        .execute()
    ).map(rowToEntry);
    let nextCheck = Number.POSITIVE_INFINITY;
    for (const id of pending) {
      const intent = rows.find((r) => r.id === id);
      const closing = rows.filter((r) => r.intentId === id);
      const resolved = closing.find((r) => r.outcome === 'resolved');
      const answered = closing.find((r) => r.outcome === 'sent' || r.outcome === 'failed' || r.outcome === 'not_sent');
      if (!intent) {
        // Never written (the call did not leave).
        done.set(id, 'not_sent');
        continue;
      }
      if (resolved) done.set(id, (resolved.reason as WriteVerdict | null) ?? 'unverifiable');
      else if (answered) done.set(id, answered.outcome as 'sent' | 'failed' | 'not_sent');
      else {
        const due = intent.createdAt.getTime() + settleMs;
        if (Date.now() < due) {
          nextCheck = Math.min(nextCheck, due);
          continue;
        }
        if (!closing.some((r) => r.outcome === 'unknown')) {
          await writerOf(services).append([
            closingRow(intent, 'unknown', {
              errorClass: 'outcome_lost',
              errorMessage: 'no outcome was recorded by the settle deadline; the request may have been applied',
            }),
          ]);
        }
        const verdict = await resolveTransfer(services, intent);
        if (verdict) done.set(id, verdict);
        else nextCheck = Math.min(nextCheck, Date.now() + 5_000);
      }
    }
    if (done.size < transferIds.length) {
      const wait = Math.max(10, Math.min(options.pollMs ?? 250, nextCheck - Date.now()));
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  return transferIds.map((transferId) => ({ transferId, resolution: done.get(transferId) ?? 'unresolved' }));
}

/**
 * Transfers of these connections whose outcome is not known at `before`: intents created up to then
 * that nothing has settled — no row completes them (a call still out, or one a process that died left
 * open), or only `unknown` rows do (no answer came, and no resolution yet). A revocation lists them on
 * its receipt and its pipeline resolves them, so that after its 202 nobody else needs to ask the
 * provider about the connection. Only rows after the organization's recovery mark are read (everything
 * before it is settled, see {@link recoverOpenTransfers}), through the (connection, seq) index.
 */
export async function unsettledTransfers(services: Services, connectionIds: string[], before: Date): Promise<string[]> {
  if (!connectionIds.length) return [];
  const rows = await sql<{ id: string }>`
    SELECT t.id FROM connections c
    LEFT JOIN transfer_log_recovery_marks m ON m.organization_id = c.organization_id
    CROSS JOIN LATERAL (
      SELECT t.id, t.seq FROM transfer_log t
      WHERE t.connection_id = c.id AND t.seq > coalesce(m.seq, 0) AND t.outcome = 'intent' AND t.created_at <= ${before}
        AND NOT EXISTS (SELECT 1 FROM transfer_log o WHERE o.intent_id = t.id AND o.outcome <> 'unknown')
    ) t
    WHERE c.id IN (${sql.join(connectionIds)})
    ORDER BY t.seq`.execute(services.db);
  return rows.rows.map((r) => r.id);
}

/** What one recovery run did. */
export interface RecoveryReport {
  /** Intents past the lease deadline without an outcome, now `unknown`. */
  markedUnknown: string[];
  /** Resolutions written, by transfer (intent) id. */
  resolved: Array<{ transferId: string; verdict: WriteVerdict }>;
  /** Unknown transfers whose check failed this time (retried on the next run). */
  pending: string[];
}

const SCAN_LIMIT = 5000;

/**
 * Closes the log: intents older than the lease deadline without an outcome become `unknown`, and every
 * `unknown` without a resolution is resolved (see the module comment). Idempotent; safe to run in
 * several processes at once only in the sense that a duplicate `unknown`/`resolved` row is harmless —
 * the maintenance queue runs it in one worker.
 */
export async function recoverOpenTransfers(
  services: Services,
  options: { organizationId?: string; leaseMs?: number; settleMs?: number; now?: number } = {},
): Promise<RecoveryReport> {
  const now = options.now ?? Date.now();
  const settleMs = options.settleMs ?? services.config.TRANSFER_UNKNOWN_SETTLE_MS;
  const cutoff = new Date(now - (options.leaseMs ?? LEASE_TTL_MS));
  const report: RecoveryReport = { markedUnknown: [], resolved: [], pending: [] };
  const log = writerOf(services);
  let orgs = services.db.selectFrom('transfer_log_heads').select(['organization_id', 'seq']).where('seq', '>', 0);
  if (options.organizationId) orgs = orgs.where('organization_id', '=', options.organizationId);
  for (const org of await orgs.execute()) {
    const mark = await services.db
      .selectFrom('transfer_log_recovery_marks')
      .select('seq')
      .where('organization_id', '=', org.organization_id)
      .executeTakeFirst();
    const from = mark ? Number(mark.seq) : 0;
    // Open rows after the mark: intents without any row completing them, and unknowns without a resolution.
    const open = await sql<{ id: string; seq: string; outcome: string; intent_id: string | null; created_at: Date }>`
      SELECT t.id, t.seq, t.outcome, t.intent_id, t.created_at FROM transfer_log t
      WHERE t.organization_id = ${org.organization_id} AND t.seq > ${from} AND t.outcome IN ('intent', 'unknown')
        AND NOT EXISTS (
          SELECT 1 FROM transfer_log o WHERE o.intent_id = coalesce(t.intent_id, t.id) AND o.seq > t.seq
            AND (t.outcome = 'unknown' AND o.outcome = 'resolved' OR t.outcome = 'intent')
        )
      ORDER BY t.seq LIMIT ${SCAN_LIMIT}`.execute(services.db);
    let lowestOpen: number | null = null;
    const intentIds = new Set<string>();
    const stale: string[] = [];
    for (const r of open.rows) {
      const intentId = r.outcome === 'intent' ? r.id : r.intent_id!;
      if (r.outcome === 'intent' && new Date(r.created_at) >= cutoff) {
        // Possibly still under way: leave it to a later run.
        lowestOpen ??= Number(r.seq);
        continue;
      }
      if (r.outcome === 'intent') stale.push(r.id);
      intentIds.add(intentId);
    }
    if (intentIds.size) {
      const intents = (
        await services.db
          .selectFrom('transfer_log')
          .selectAll()
          .where('id', 'in', [...intentIds])
          .execute()
      ).map(rowToEntry);
      const byId = new Map(intents.map((i) => [i.id, i]));
      const unknownRows = stale
        .map((id) => byId.get(id))
        .filter((i): i is ChainedEntry => !!i)
        .map((intent) =>
          closingRow(intent, 'unknown', {
            errorClass: 'outcome_lost',
            errorMessage: 'no outcome was recorded by the lease deadline (the process stopped, or could not write it); the request may have been applied',
          }),
        );
      if (unknownRows.length) {
        await log.append(unknownRows);
        report.markedUnknown.push(...unknownRows.map((r) => r.intentId!));
      }
      for (const intent of intents) {
        // Too early to read: the provider may still apply a request it received (see TRANSFER_UNKNOWN_SETTLE_MS).
        const verdict = now - intent.createdAt.getTime() >= settleMs ? await resolveTransfer(services, intent, now) : null;
        if (verdict) report.resolved.push({ transferId: intent.id, verdict });
        else {
          report.pending.push(intent.id);
          const seq = intent.seq;
          lowestOpen = lowestOpen === null ? seq : Math.min(lowestOpen, seq);
        }
      }
    }
    // Everything before the lowest row still open is closed (a full page may stop short of the head).
    const scannedTo = open.rows.length === SCAN_LIMIT ? Number(open.rows[open.rows.length - 1]!.seq) : Number(org.seq);
    const next = lowestOpen === null ? scannedTo : lowestOpen - 1;
    if (next > from) {
      await services.db
        .insertInto('transfer_log_recovery_marks')
        .values({ organization_id: org.organization_id, seq: next, updated_at: new Date() })
        .onConflict((oc) => oc.column('organization_id').doUpdateSet({ seq: next, updated_at: new Date() }))
        .execute();
    }
  }
  return report;
}
