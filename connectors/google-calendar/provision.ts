import { TransferBlockedError, type TransferItem } from '../../src/transfers/types.ts';
import { openGoogleCalendar } from './client.ts';
import { PermanentRunError, ProviderStepError } from '../../src/sync/errors.ts';
import type { RemoteItem, SyncContext } from '../types.ts';
import { SYNC_PURPOSE } from './apply.ts';
import { classifyGoogleError } from './errors.ts';
import type { GoogleCalendarSettings } from './manifest.ts';

/**
 * The dedicated calendar's lifecycle (create on connect, rename, re-create if the user deleted it)
 * and the remote listing drift repair compares against. All through the gate: provisioning is an
 * outbound `provision` transfer (no case data), listing an inbound `read`.
 */

async function gated<T>(
  ctx: SyncContext,
  item: Omit<TransferItem, 'recipient'> & { destination: string | null },
  step: string,
  perform: () => Promise<{ value: T; status: number; remoteId?: string | null }>,
): Promise<T> {
  const { destination, ...rest } = item;
  const r = await ctx.services.gate.send(
    { connectionId: ctx.connection.id, purpose: SYNC_PURPOSE, actor: ctx.actor },
    { ...rest, recipient: { account: ctx.connection.externalAccount, destination } },
    perform,
  );
  if (r.outcome === 'blocked') throw new TransferBlockedError(r.reason, r.transferId);
  if (r.outcome === 'failed') throw new ProviderStepError(step, classifyGoogleError(r.error));
  return r.value;
}

async function createCalendar(ctx: SyncContext, name: string): Promise<{ id: string }> {
  const api = openGoogleCalendar({ config: ctx.services.config, accessToken: ctx.accessToken });
  return gated(
    ctx,
    { operation: 'provision', categories: [], subjects: {}, fields: {}, itemKey: 'calendar', destination: null },
    'create calendar',
    async () => {
      const c = await api.insertCalendar({ summary: name });
      return { value: { id: c.id }, status: c.status, remoteId: c.id };
    },
  );
}

/** Ensures the target calendar exists and carries the configured name. See ConnectorSync.prepare. */
export async function prepareGoogleCalendar(
  ctx: SyncContext,
  options: { verify: boolean },
): Promise<{ settings?: Record<string, unknown>; reset?: boolean; calls: number }> {
  const s = ctx.connection.settings as GoogleCalendarSettings;
  // Built only when a call is due: the common case (calendar known, name unchanged) calls nobody.
  let client: ReturnType<typeof openGoogleCalendar> | null = null;
  const api = () => (client ??= openGoogleCalendar({ config: ctx.services.config, accessToken: ctx.accessToken }));
  const wantedName = s.calendarName ?? ctx.services.config.GOOGLE_CALENDAR_NAME;
  let calls = 0;

  if (!s.calendarId) {
    calls += 1;
    const created = await createCalendar(ctx, wantedName);
    return {
      settings: { calendarId: created.id, calendarCreatedByCasebridge: true, calendarName: wantedName, calendarRemoteName: wantedName },
      calls,
    };
  }

  let missing = false;
  if (options.verify) {
    calls += 1;
    try {
      await gated(
        ctx,
        { direction: 'inbound', operation: 'read', categories: ['calendar.events'], subjects: {}, fields: {}, itemKey: 'calendar', destination: s.calendarId },
        'check calendar',
        async () => {
          const r = await api().listEvents(s.calendarId!, { maxResults: 1 });
          return { value: null, status: r.status };
        },
      );
    } catch (err) {
      if (!(err instanceof ProviderStepError && err.errorClass.status === 404)) throw err;
      missing = true;
    }
  }

  if (!missing && s.calendarCreatedByCasebridge && s.calendarRemoteName !== wantedName) {
    calls += 1;
    try {
      await gated(
        ctx,
        { operation: 'provision', categories: [], subjects: {}, fields: {}, itemKey: 'calendar', destination: s.calendarId },
        'rename calendar',
        async () => {
          const r = await api().patchCalendar(s.calendarId!, { summary: wantedName });
          return { value: null, status: r.status, remoteId: r.id };
        },
      );
      return { settings: { calendarRemoteName: wantedName }, calls };
    } catch (err) {
      if (!(err instanceof ProviderStepError && err.errorClass.status === 404)) throw err;
      missing = true;
    }
  }

  if (!missing) return { calls };
  if (!s.calendarCreatedByCasebridge) {
    throw new PermanentRunError(
      'destination_missing',
      'The Google calendar chosen for this connection no longer exists. Reconnect and choose another calendar.',
    );
  }
  // The user deleted the dedicated calendar: make a new one and write everything again.
  calls += 1;
  const created = await createCalendar(ctx, wantedName);
  return { settings: { calendarId: created.id, calendarRemoteName: wantedName }, reset: true, calls };
}

/** Lists every event of the target calendar, deleted ones included, for drift repair. */
export async function listGoogleRemote(ctx: SyncContext): Promise<{ items: RemoteItem[]; calls: number }> {
  const s = ctx.connection.settings as GoogleCalendarSettings;
  const calendarId = s.calendarId;
  if (!calendarId) return { items: [], calls: 0 };
  const api = openGoogleCalendar({ config: ctx.services.config, accessToken: ctx.accessToken });
  let calls = 0;
  const items = await gated(
    ctx,
    { direction: 'inbound', operation: 'read', categories: ['calendar.events'], subjects: {}, fields: {}, itemKey: 'calendar', destination: calendarId },
    'list calendar',
    async () => {
      const out: RemoteItem[] = [];
      let pageToken: string | undefined;
      let status = 200;
      do {
        calls += 1;
        // No extended-property filter: Google only guarantees the id of cancelled events.
        const page = await api.listEvents(calendarId, { showDeleted: true, maxResults: 2500, ...(pageToken ? { pageToken } : {}) });
        status = page.status;
        for (const ev of page.items) {
          if (!ev.id) continue;
          const props = ev.extendedProperties?.private ?? {};
          out.push({
            remoteId: ev.id,
            etag: ev.etag ?? null,
            deleted: ev.status === 'cancelled',
            key: props.casebridgeEventId ? `event:${props.casebridgeEventId}` : null,
            ours: props.casebridgeConnectionId === ctx.connection.id,
          });
        }
        pageToken = page.nextPageToken ?? undefined;
      } while (pageToken);
      return { value: out, status };
    },
  );
  return { items, calls };
}
