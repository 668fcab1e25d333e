import type { WriteCheck, WriteVerdict } from '../../src/transfers/resolution.ts';
import { openGoogleCalendar, ProviderHttpError } from './client.ts';
import { googleEventId } from './project.ts';

/**
 * "Did this write take effect?" for Google Calendar, asked by the transfer log's resolution
 * (`src/transfers/resolution.ts`) about a call whose answer never came. Event ids are deterministic
 * (`googleEventId(connection, case event)`), so the event a write targeted is one GET away. Google
 * keeps no history, so the verdict is read from the event's timestamps against the intent and the
 * next transfer of the same item (`later`: when its call left, not when its intent was written ahead):
 * - a create took effect when the event was created between the intent and `later` (an event is
 *   created once: a repeated insert answers 409);
 * - a create that met an existing event (409 → PATCH) and an update took effect when the event was
 *   last changed after the intent and no later transfer of the item exists; when a later one exists,
 *   it overwrote the evidence: `unverifiable`;
 * - a delete took effect when the event is gone (404/410) or cancelled and no later transfer exists.
 * Anything else (the dedicated calendar, provisioning) is `unverifiable`; so is a connection whose
 * tokens were shredded (the provider cannot be asked any more).
 */
export function createGoogleWriteCheck(): WriteCheck {
  return async ({ services, intent, tokens }): Promise<WriteVerdict> => {
    const calendarId = intent.recipientDestination;
    const caseEventId = intent.itemKey?.startsWith('event:') ? intent.itemKey.slice('event:'.length) : null;
    if (!calendarId || !caseEventId || !intent.connectionId) return 'unverifiable';
    if (!tokens || !(await tokens.stored())) return 'unverifiable';
    const laterRow = await services.db
      .selectFrom('transfer_log as i')
      .leftJoin('transfer_log as o', (j) => j.onRef('o.intent_id', '=', 'i.id').on('o.duration_ms', 'is not', null))
      .select(['i.created_at', 'o.created_at as outcome_at', 'o.duration_ms'])
      .where('i.connection_id', '=', intent.connectionId)
      .where('i.item_key', '=', intent.itemKey)
      .where('i.outcome', '=', 'intent')
      .where('i.seq', '>', intent.seq)
      .orderBy('i.seq')
      .limit(1)
      .executeTakeFirst();
    // When the later transfer's call left: its outcome's time less the call's duration (its intent may
    // have been written ahead, well before the call); the intent's time when it has no outcome yet.
    const later = laterRow
      ? laterRow.outcome_at && laterRow.duration_ms !== null
        ? new Date(laterRow.outcome_at).getTime() - Number(laterRow.duration_ms)
        : new Date(laterRow.created_at).getTime()
      : null;
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
    if (event === null) return 'did_not_take_effect';
    const created = event.created ? Date.parse(event.created) : Number.NaN;
    const updated = event.updated ? Date.parse(event.updated) : Number.NaN;
    if (intent.operation === 'create' && created >= sent) return later === null || created < later ? 'took_effect' : 'did_not_take_effect';
    // The event existed before: only its last change can be read.
    if (later !== null) return updated < later && updated >= sent ? 'took_effect' : 'unverifiable';
    return updated >= sent && !gone ? 'took_effect' : 'did_not_take_effect';
  };
}
