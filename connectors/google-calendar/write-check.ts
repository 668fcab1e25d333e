import type { WriteCheck, WriteVerdict } from '../../src/transfers/resolution.ts';
import { openGoogleCalendar, ProviderHttpError } from './client.ts';
import { googleEventId } from './project.ts';

/**
 * "Did this write take effect?" for Google Calendar, asked by the transfer log's resolution
 * (`src/transfers/resolution.ts`) about a call whose answer never came, once no late request can
 * still land (`TRANSFER_UNKNOWN_SETTLE_MS`). Event ids are deterministic (`googleEventId(connection,
 * case event)`), so the event a write targeted is one GET away. Google keeps no history, but every
 * write stamps its transfer id into the event's private properties ({@link TRANSFER_PROPERTY}), so
 * the event says whose body it holds:
 * - its own stamp: took effect;
 * - an earlier transfer's stamp, answered before this call began: did not take effect (had it, its
 *   body would be there); answered later or not at all: `unverifiable`;
 * - a later transfer's stamp: an update was overwritten (`unverifiable`); a create took effect when it
 *   is the only call that can have created the event — every later create met it (409 → PATCH, its
 *   `sent` row says {@link INSERT_MET_EXISTING}) and no other create of unknown outcome came first —
 *   and did not when a sent insert created it (one creation per event).
 * Events written before the stamp fall back to timestamps (created/updated against the intent and the
 * next transfer of the item, dated by when its call left, not when its intent was written ahead). A delete took effect when the event is gone (404/410) or cancelled and
 * no later transfer exists. Anything else (the dedicated calendar, provisioning) is `unverifiable`; so
 * is a connection whose tokens were shredded (the provider cannot be asked any more).
 */
/** The `reason` of a create's `sent` row when its insert found the event already there (409) and patched it. */
export const INSERT_MET_EXISTING = 'insert_met_existing';

/** The private extended property naming the transfer (intent id) that wrote the event last. */
export const TRANSFER_PROPERTY = 'casebridgeTransferId';

type HistoryRow = {
  id: string;
  seq: number;
  outcome: string;
  intentId: string | null;
  operation: string | null;
  reason: string | null;
  durationMs: number | null;
  createdAt: number;
};

/**
 * Who created the event, from the item's history up to the transfer at `upTo` (which met it already
 * there): the creates since the last delete that may have inserted it — open or unknown ones, and sent
 * ones whose insert did not meet an existing event. One creation per event: when a sent insert created
 * it, no other did; when `intent` is the only candidate, it did.
 */
function creatorVerdict(history: HistoryRow[], intent: { id: string; seq: number }, upTo: number): WriteVerdict {
  const intents = history.filter((r) => r.outcome === 'intent' && r.seq <= upTo);
  const closing = (id: string) => history.find((r) => r.intentId === id && r.outcome !== 'resolved');
  const lastDelete = Math.max(0, ...intents.filter((r) => r.operation === 'delete' && closing(r.id)?.outcome === 'sent').map((r) => r.seq));
  const candidates = intents.filter((r) => {
    if (r.seq <= lastDelete || r.operation === 'delete') return false;
    const c = closing(r.id);
    if (!c || c.outcome === 'unknown') return true;
    return c.outcome === 'sent' && r.operation === 'create' && c.reason !== INSERT_MET_EXISTING;
  });
  if (candidates.some((r) => r.id !== intent.id && closing(r.id)?.outcome === 'sent')) return 'did_not_take_effect';
  return candidates.length === 1 && candidates[0]!.id === intent.id ? 'took_effect' : 'unverifiable';
}

export function createGoogleWriteCheck(): WriteCheck {
  return async ({ services, intent, tokens }): Promise<WriteVerdict> => {
    const calendarId = intent.recipientDestination;
    const caseEventId = intent.itemKey?.startsWith('event:') ? intent.itemKey.slice('event:'.length) : null;
    if (!calendarId || !caseEventId || !intent.connectionId) return 'unverifiable';
    if (!tokens || !(await tokens.stored())) return 'unverifiable';
    // The item's whole history on this connection: intents and how each call ended.
    const history: HistoryRow[] = (
      await services.db
        .selectFrom('transfer_log')
        .select(['id', 'seq', 'outcome', 'intent_id', 'operation', 'reason', 'duration_ms', 'created_at'])
        .where('connection_id', '=', intent.connectionId)
        .where('item_key', '=', intent.itemKey)
        .orderBy('seq')
        .execute()
    ).map((r) => ({
      id: r.id,
      seq: Number(r.seq),
      outcome: r.outcome,
      intentId: r.intent_id,
      operation: r.operation,
      reason: r.reason,
      durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
      createdAt: new Date(r.created_at).getTime(),
    }));
    const laterRow = history.find((r) => r.outcome === 'intent' && r.seq > intent.seq);
    // When the later transfer's call left: its outcome's time less the call's duration (its intent may
    // have been written ahead, well before the call); the intent's time when it has no such outcome.
    const laterCall = laterRow ? history.find((r) => r.intentId === laterRow.id && r.durationMs !== null) : undefined;
    const later = laterRow ? (laterCall ? laterCall.createdAt - laterCall.durationMs! : laterRow.createdAt) : null;
    const accessToken = await tokens.accessToken();
    const api = openGoogleCalendar({ config: services.config, accessToken });
    let event: Awaited<ReturnType<typeof api.getEvent>>['event'] | null;
    try {
      event = (await api.getEvent(calendarId, googleEventId(intent.connectionId, caseEventId))).event;
    } catch (err) {
      if (err instanceof ProviderHttpError && (err.status === 404 || err.status === 410)) event = null;
      else throw err;
    }
    const sent = intent.createdAt.getTime();
    const gone = event === null || event.status === 'cancelled';
    if (intent.operation === 'delete') return later !== null ? 'unverifiable' : gone ? 'took_effect' : 'did_not_take_effect';
    if (intent.operation !== 'create' && intent.operation !== 'update') return 'unverifiable';

    // The stamp names the transfer whose body Google holds: this one, an earlier one or a later one.
    const stamp = (event?.extendedProperties?.private as Record<string, string> | undefined)?.[TRANSFER_PROPERTY];
    const stamped = stamp ? history.find((r) => r.id === stamp && r.outcome === 'intent') : undefined;
    if (stamp === intent.id) return 'took_effect';
    if (stamped && stamped.seq < intent.seq) {
      // An earlier write is the last applied: this one did not take effect — if that earlier call had
      // its answer before this one began (else it may have landed after this one).
      const answered = history.find((r) => r.intentId === stamped.id && r.outcome === 'sent');
      return answered && answered.createdAt < sent ? 'did_not_take_effect' : 'unverifiable';
    }
    if (stamped) return intent.operation === 'create' ? creatorVerdict(history, intent, stamped.seq) : 'unverifiable';

    // No stamp (nothing there, or an event written before transfers were stamped): the timestamps.
    if (event === null) return later === null ? 'did_not_take_effect' : 'unverifiable';
    const created = event.created ? Date.parse(event.created) : Number.NaN;
    const updated = event.updated ? Date.parse(event.updated) : Number.NaN;
    if (intent.operation === 'create' && created >= sent) {
      if (later === null || created < later) return 'took_effect';
      return creatorVerdict(history, intent, laterRow!.seq);
    }
    // The event existed before: only its last change can be read.
    if (later !== null) return updated < later && updated >= sent ? 'took_effect' : 'unverifiable';
    return updated >= sent && !gone ? 'took_effect' : 'did_not_take_effect';
  };
}
