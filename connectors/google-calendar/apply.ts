import { TransferNotSentError } from '../../src/transfers/errors.ts';
import { gateScope } from '../../src/transfers/gate-scope.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import type { ApplyOptions, DesiredItem, PlanStep, StepResult, SyncContext } from '../types.ts';
import { type GoogleCalendarApi, type GoogleEvent, openGoogleCalendar, ProviderHttpError } from './client.ts';
import { classifyGoogleError, NotSentError } from './errors.ts';
import type { GoogleCalendarSettings } from './manifest.ts';
import { INSERT_MET_EXISTING, TRANSFER_PROPERTY } from './write-check.ts';

/**
 * Create / update / delete of Google Calendar events through the outbound gate. The gate hands
 * `perform` only the consented, minimised fields; {@link toGoogleEvent} builds the body from those
 * and nothing else. Conflict handling makes every step idempotent:
 * - insert 409 (the id exists, possibly cancelled) → PATCH it, which also restores a cancelled one;
 * - PATCH with If-Match 412 (edited meanwhile) → re-read the ETag and PATCH once more; if the
 *   re-read finds nothing (Google purged the cancelled event), insert it;
 * - PATCH 404 (gone entirely: Google purges cancelled events after a while) → insert with the same
 *   deterministic id, and on 409 (it came back meanwhile) PATCH it, as on create;
 * - DELETE 404/410 → already gone, done.
 * A 404 that survives all this is called `destination_missing` only after the calendar itself
 * answered 404: an event Google purged must not make the engine re-create a calendar that exists.
 */

export const SYNC_PURPOSE = 'calendar_sync';

/**
 * Private extended properties: map an event back to its case, case event and connection, and name
 * the transfer (the log's intent id) that wrote it last — the write check reads it to tell whether a
 * call whose answer never came is the one Google applied.
 */
export function privateProperties(connectionId: string, desired: Pick<DesiredItem, 'caseId' | 'key'>, transferId?: string): Record<string, string> {
  return {
    casebridgeCaseId: desired.caseId,
    casebridgeEventId: desired.key.replace(/^event:/, ''),
    casebridgeConnectionId: connectionId,
    ...(transferId ? { [TRANSFER_PROPERTY]: transferId } : {}),
  };
}

/** Longest description Google keeps (characters); longer ones are refused with 400. */
export const GOOGLE_DESCRIPTION_LIMIT = 8192;
const TRUNCATION_MARKER = '\n\n[… shortened: the full text is in the case file]';

/**
 * Fits a description into Google's limit: one long note must not make the event a permanent 400.
 * Cuts on a UTF-16 boundary (never half a surrogate pair) and says that it did.
 */
export function capDescription(text: string, limit = GOOGLE_DESCRIPTION_LIMIT): string {
  if (text.length <= limit) return text;
  let cut = limit - TRUNCATION_MARKER.length;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return text.slice(0, cut) + TRUNCATION_MARKER;
}

/**
 * The Google event body from the minimised fields. Fields the consent does not cover are absent
 * from `fields`, and are sent as `null` so a PATCH also clears what an earlier, wider consent wrote.
 */
export function toGoogleEvent(params: {
  fields: Record<string, unknown>;
  desired: Pick<DesiredItem, 'caseId' | 'key' | 'meta'>;
  connectionId: string;
  /** The transfer writing it (stamped into the private properties). */
  transferId?: string;
}): GoogleEvent {
  const f = params.fields;
  const title = typeof f.title === 'string' && f.title ? f.title : '(untitled)';
  const summary = typeof f.caseNumber === 'string' && f.caseNumber ? `${f.caseNumber}: ${title}` : title;
  const parts: string[] = [];
  if (typeof f.description === 'string' && f.description) parts.push(f.description);
  if (Array.isArray(f.participantNames) && f.participantNames.length) parts.push(`Participants: ${f.participantNames.join(', ')}`);
  const allDay = f.allDay === true;
  const tz = typeof f.timeZone === 'string' ? f.timeZone : undefined;
  const when = (v: unknown) => (allDay ? { date: String(v) } : { dateTime: String(v), ...(tz ? { timeZone: tz } : {}) });
  const reminder = typeof params.desired.meta?.reminderMinutes === 'number' ? params.desired.meta.reminderMinutes : null;
  return {
    summary,
    description: parts.length ? capDescription(parts.join('\n\n')) : null,
    location: typeof f.location === 'string' && f.location ? f.location : null,
    start: when(f.start),
    end: when(f.end),
    status: 'confirmed',
    reminders: reminder === null ? { useDefault: true, overrides: [] } : { useDefault: false, overrides: [{ method: 'popup', minutes: reminder }] },
    extendedProperties: { private: privateProperties(params.connectionId, params.desired, params.transferId) },
  };
}

/** An insert body: the event's members without unset ones (no nulls sent), then its id. */
function insertBody(body: GoogleEvent, id: string): GoogleEvent {
  // A plain copy loop: every create builds one (entries/filter/fromEntries made an array per member).
  const src = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) {
    const v = src[k];
    if (v !== null && v !== undefined) out[k] = v;
  }
  out.id = id;
  return out as GoogleEvent;
}

/** The gate item of a step: field-keyed payload for writes, identifiers only for deletes. */
export function transferItem(step: PlanStep, recipient: TransferItem['recipient']): TransferItem {
  if (step.op === 'delete') {
    const eventId = step.key.startsWith('event:') ? step.key.slice('event:'.length) : null;
    return {
      operation: 'delete',
      categories: ['calendar.events'],
      subjects: { ...(step.current.caseId ? { caseIds: [step.current.caseId] } : {}), ...(eventId ? { eventIds: [eventId] } : {}) },
      recipient,
      fields: {},
      itemKey: step.key,
    };
  }
  return {
    operation: step.op,
    categories: ['calendar.events', 'calendar.events.details'],
    subjects: step.desired.subjects,
    recipient,
    fields: step.desired.fields as Record<string, unknown>,
    itemKey: step.key,
  };
}

const statusOf = (err: unknown): number | null => (err instanceof ProviderHttpError ? err.status : null);

/** Whether the calendar itself is gone (a one-item listing: allowed with `calendar.events` too). */
async function calendarAnswers404(api: GoogleCalendarApi, calendarId: string): Promise<boolean> {
  try {
    await api.listEvents(calendarId, { maxResults: 1 });
    return false;
  } catch (err) {
    return statusOf(err) === 404;
  }
}

/**
 * The run's Calendar client, built once per run and access token rather than per chunk (an OAuth2
 * client and the generated API object are a few hundred objects each): keyed by the run's context,
 * replaced when the run's token was refreshed.
 */
const runClients = new WeakMap<SyncContext, { accessToken: string; api: GoogleCalendarApi }>();

function clientFor(ctx: SyncContext): GoogleCalendarApi {
  const hit = runClients.get(ctx);
  if (hit && hit.accessToken === ctx.accessToken) return hit.api;
  const api = openGoogleCalendar({ config: ctx.services.config, accessToken: ctx.accessToken });
  runClients.set(ctx, { accessToken: ctx.accessToken, api });
  return api;
}

/** Applies a chunk of steps; one result per step, in order. Never throws for a single item. */
export async function applyGoogleSteps(ctx: SyncContext, steps: PlanStep[], options: ApplyOptions): Promise<StepResult[]> {
  const settings = ctx.connection.settings as GoogleCalendarSettings;
  const calendarId = settings.calendarId;
  if (!calendarId) throw new Error('applyGoogleSteps called before the calendar was provisioned');
  const api = clientFor(ctx);
  const recipient = { account: ctx.connection.externalAccount, destination: calendarId };
  const calls = new Array<number>(steps.length).fill(0);
  /** Steps whose 404 was confirmed by the calendar itself being gone. */
  const calendarGone = new Array<boolean>(steps.length).fill(false);
  // Once Google says "slow down", the rest of the chunk is not sent (each would only add a 429): the
  // gate leaves the steps not yet started (no call), and the engine pauses the account's other chunks.
  let slowDown: ProviderHttpError | null = null;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;

  const results = await ctx.services.gate.sendMany(
    { connectionId: ctx.connection.id, purpose: SYNC_PURPOSE, actor: ctx.actor },
    steps.map((s) => transferItem(s, recipient)),
    async (minimised, _item, i) => {
      const step = steps[i]!;
      if (slowDown) throw new NotSentError(slowDown);
      const count = async <T>(p: () => Promise<T>): Promise<T> => {
        calls[i]! += 1;
        try {
          return await p();
        } catch (err) {
          const classified = err instanceof ProviderHttpError ? classifyGoogleError(err) : null;
          if (err instanceof ProviderHttpError && classified?.kind === 'rate_limited' && !slowDown) {
            slowDown = err;
            stop.abort('rate_limited');
            // The classified wait: a usage limit pauses for an hour even when Google sends no Retry-After.
            options.onRateLimited?.(classified.retryAfterMs ?? err.retryAfterMs, classified.code);
          }
          throw err;
        }
      };
      if (step.op === 'delete') {
        try {
          const r = await count(() => api.deleteEvent(calendarId, step.current.remoteId));
          return { value: { etag: null }, status: r.status, remoteId: step.current.remoteId };
        } catch (err) {
          const status = statusOf(err);
          if (status === 404 || status === 410) return { value: { etag: null }, status, remoteId: step.current.remoteId };
          throw err;
        }
      }
      const remoteId = step.op === 'update' ? step.current.remoteId : step.desired.remoteId!;
      const body = toGoogleEvent({ fields: minimised, desired: step.desired, connectionId: ctx.connection.id, transferId: gateScope.getStore()?.transferId });
      const patch = async (etag: string | null) => count(() => api.patchEvent(calendarId, remoteId, body, { etag }));
      const insert = async () => count(() => api.insertEvent(calendarId, insertBody(body, remoteId)));
      // The id exists (a retried create, a cancelled event, or one that came back): update it instead.
      // The log keeps that the insert met an existing event: a write check of an earlier create whose
      // answer never came reads it (that create may be what the insert met).
      const insertOrPatch = async (): Promise<{ event: GoogleEvent; status: number; note?: string }> => {
        try {
          return await insert();
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
          return { ...(await patch(null)), note: INSERT_MET_EXISTING };
        }
      };
      const write = async (): Promise<{ event: GoogleEvent; status: number; note?: string }> => {
        if (step.op === 'create') return insertOrPatch();
        try {
          return await patch(step.current.etag);
        } catch (err) {
          const status = statusOf(err);
          if (status === 404) return insertOrPatch();
          if (status !== 412) throw err;
        }
        let etag: string | null;
        try {
          etag = (await count(() => api.getEvent(calendarId, remoteId))).event.etag ?? null;
        } catch (err) {
          // Edited, then purged by Google: nothing left to compare against.
          if (statusOf(err) === 404) return insertOrPatch();
          throw err;
        }
        return patch(etag);
      };
      try {
        const written = await write();
        return { value: { etag: written.event.etag ?? null }, status: written.status, remoteId, note: written.note };
      } catch (err) {
        if (statusOf(err) === 404) calendarGone[i] = await count(() => calendarAnswers404(api, calendarId));
        throw err;
      }
    },
    { concurrency: options.concurrency, signal, beforeSend: options.beforeSend ? (_item, i) => options.beforeSend!(i) : undefined },
  );

  return results.map((r, i): StepResult => {
    const step = steps[i]!;
    if (r.outcome === 'sent') {
      const remoteId = step.op === 'create' ? step.desired.remoteId! : step.current.remoteId;
      return { key: step.key, op: step.op, outcome: 'done', remoteId, etag: r.value.etag, calls: calls[i]! };
    }
    if (r.outcome === 'blocked') return { key: step.key, op: step.op, outcome: 'blocked', reason: r.reason, calls: 0 };
    if (r.error instanceof TransferNotSentError) return { key: step.key, op: step.op, outcome: 'not_sent', reason: r.error.reason, calls: 0 };
    const error = classifyGoogleError(r.error);
    if (step.op !== 'delete' && calendarGone[i]) error.code = 'destination_missing';
    return { key: step.key, op: step.op, outcome: 'failed', error, calls: calls[i]! };
  });
}
