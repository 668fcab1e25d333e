import { markReauthRequired } from '../../src/connections/lifecycle.ts';
import type { ConnectorOAuth } from '../../src/connections/oauth-types.ts';
import { createTokenAccess, vaultFor } from '../../src/connections/token-refresh.ts';
import { openGoogleCalendar, ProviderHttpError } from '../../src/transfers/clients/google-calendar.ts';
import type { WriteCheck, WriteVerdict } from '../../src/transfers/resolution.ts';
import { googleEventId } from './project.ts';

/**
 * "Did this write take effect?" for Google Calendar, asked by the transfer log's resolution
 * (`src/transfers/resolution.ts`) about a call whose answer never came. Event ids are deterministic
 * (`googleEventId(connection, case event)`), so the event a write targeted is one GET away:
 * - a delete took effect when the event is gone (404/410) or cancelled;
 * - a create or update took effect when the event exists, is not cancelled, and was last changed at or
 *   after the intent was written (`updated`). A later sync of the same item also moves `updated`; the
 *   verdict then says the write's content reached Google, possibly superseded — which is what a
 *   subject-access report needs to know.
 * Anything else (the dedicated calendar, provisioning) is `unverifiable`. Without stored tokens (a
 * revoked connection after crypto-shredding) the provider cannot be asked: also `unverifiable`.
 */
export function createGoogleWriteCheck(oauth: ConnectorOAuth): WriteCheck {
  return async ({ services, intent }): Promise<WriteVerdict> => {
    const calendarId = intent.recipientDestination;
    const caseEventId = intent.itemKey?.startsWith('event:') ? intent.itemKey.slice('event:'.length) : null;
    if (!calendarId || !caseEventId || !intent.connectionId) return 'unverifiable';
    if (!(await vaultFor(services).load(intent.connectionId))) return 'unverifiable';
    const accessToken = await createTokenAccess(services, {
      oauth,
      onReauthRequired: (id, message) => markReauthRequired(services, id, message).then(() => undefined),
    }).get(intent.connectionId);
    const api = openGoogleCalendar({ config: services.config, accessToken });
    let event: Awaited<ReturnType<typeof api.getEvent>>['event'] | null;
    try {
      event = (await api.getEvent(calendarId, googleEventId(intent.connectionId, caseEventId))).event;
    } catch (err) {
      if (err instanceof ProviderHttpError && (err.status === 404 || err.status === 410)) event = null;
      else throw err;
    }
    const gone = event === null || event.status === 'cancelled';
    if (intent.operation === 'delete') return gone ? 'took_effect' : 'did_not_take_effect';
    if (intent.operation !== 'create' && intent.operation !== 'update') return 'unverifiable';
    if (gone) return 'did_not_take_effect';
    // Google's `updated` has millisecond precision; allow for clock skew between us and the provider.
    const updated = event?.updated ? Date.parse(event.updated) : Number.NaN;
    return Number.isFinite(updated) && updated >= intent.createdAt.getTime() - 1000 ? 'took_effect' : 'did_not_take_effect';
  };
}
