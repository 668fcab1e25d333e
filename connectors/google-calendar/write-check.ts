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
 *   created once: a repeated insert answers 409), or after `later` when the later transfer's insert
 *   met the event already there (its `sent` row says {@link INSERT_MET_EXISTING}): the late-landing
 *   call created it; when the later insert created it itself, this one did not;
 * - a create that met an existing event (409 → PATCH) and an update took effect when the event was
 *   last changed after the intent and no later transfer of the item exists; when a later one exists,
 *   it overwrote the evidence: `unverifiable`;
 * - a delete took effect when the event is gone (404/410) or cancelled and no later transfer exists.
 * Anything else (the dedicated calendar, provisioning) is `unverifiable`; so is a connection whose
 * tokens were shredded (the provider cannot be asked any more).
 */
/** The `reason` of a create's `sent` row when its insert found the event already there (409) and patched it. */
export const INSERT_MET_EXISTING = 'insert_met_existing';

export function createGoogleWriteCheck(): WriteCheck {
  return async ({ services, intent, tokens }): Promise<WriteVerdict> => {
    const calendarId = intent.recipientDestination;
    const caseEventId = intent.itemKey?.startsWith('event:') ? intent.itemKey.slice('event:'.length) : null;
    if (!calendarId || !caseEventId || !intent.connectionId) return 'unverifiable';
    if (!tokens || !(await tokens.stored())) return 'unverifiable';
    const laterRow = await services.db
      .selectFrom('transfer_log')
      .select(['id', 'created_at', 'operation'])
      .where('connection_id', '=', intent.connectionId)
      .where('item_key', '=', intent.itemKey)
      .where('outcome', '=', 'intent')
      .where('seq', '>', intent.seq)
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    const later = laterRow ? new Date(laterRow.created_at).getTime() : null;
    // How the later transfer's call ended, for a create: did its insert find the event already there?
    const laterOutcome = async () =>
      laterRow
        ? await services.db
            .selectFrom('transfer_log')
            .select(['outcome', 'reason'])
            .where('intent_id', '=', laterRow.id)
            .where('outcome', 'in', ['sent', 'failed', 'unknown', 'not_sent'])
            .orderBy('seq')
            .limit(1)
            .executeTakeFirst()
        : undefined;
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
    if (intent.operation === 'create' && created >= sent) {
      if (later === null || created < later) return 'took_effect';
      // Created after the later transfer began: by this call landing late, or by the later call itself.
      const next = await laterOutcome();
      if (next?.outcome !== 'sent') return 'unverifiable';
      return next.reason === INSERT_MET_EXISTING ? 'took_effect' : 'did_not_take_effect';
    }
    // The event existed before: only its last change can be read.
    if (later !== null) return updated < later && updated >= sent ? 'took_effect' : 'unverifiable';
    return updated >= sent && !gone ? 'took_effect' : 'did_not_take_effect';
  };
}
