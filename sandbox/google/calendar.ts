import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { applyFaults, googleErrorResponse } from '../faults.ts';
import type { ProviderEmulator } from '../server.ts';
import type { IssuedToken, SandboxState } from '../state.ts';
import { resolveGoogleBearer } from './bearer.ts';

/**
 * Google Calendar API v3 emulator, served at Google's own paths (`/calendar/v3/...`) at the sandbox
 * root, because googleapis keeps only the origin of `rootUrl`. Faithful where sync correctness
 * depends on it: client-supplied base32hex ids (5–1024 chars), 409 `duplicate` also for cancelled
 * events, delete = `status: cancelled` (a second delete answers 410), ETag + If-Match → 412,
 * `syncToken` / `nextSyncToken` on the last page / 410 `fullSyncRequired`, `showDeleted`, paging,
 * `privateExtendedProperty` filters, scopes (`calendar.app.created` only reaches calendars the same
 * client created), bearer tokens (401 for missing, unknown, expired or revoked tokens) and the
 * sandbox's injected faults. Stricter where Google is: extended properties (key ≤ 44, value ≤ 1,024
 * characters), descriptions (≤ 8,192 characters), cancelled events purged after a while (then 404,
 * and their id is free again), and calendar usage limits (writes answer 403 `quotaExceeded` for
 * hours, see {@link limitCalendarUsage}). Every request that passed authentication is in the ledger; writes are
 * marked `write: true` with the resulting object.
 */

export const CALENDAR_SCOPES = {
  full: 'https://www.googleapis.com/auth/calendar',
  events: 'https://www.googleapis.com/auth/calendar.events',
  appCreated: 'https://www.googleapis.com/auth/calendar.app.created',
  readonly: 'https://www.googleapis.com/auth/calendar.readonly',
} as const;

const EVENT_ID = /^[a-v0-9]{5,1024}$/;

/** Extended properties: Google's documented limits (Calendar API guide "Extended properties"). */
export const EXTENDED_PROPERTY_LIMITS = { key: 44, value: 1024 } as const;
/** Longest description Google stores (characters). */
export const DESCRIPTION_LIMIT = 8192;
/** How long a cancelled event stays listable before Google purges it (default; tests shorten it). */
export const DEFAULT_CANCELLED_RETENTION_MS = 30 * 24 * 3600 * 1000;

export interface SandboxCalendar {
  id: string;
  owner: string;
  summary: string;
  description?: string;
  timeZone: string;
  /** OAuth client that created it (`calendar.app.created` grants access only to these). */
  createdByClient: string | null;
  primary: boolean;
  etagN: number;
}

export interface SandboxEvent {
  calendarId: string;
  /** The event as the API returns it. */
  resource: Record<string, unknown> & { id: string; status: string; etag: string };
  /** Store-wide change sequence at the last change (sync tokens compare against it). */
  seq: number;
  /** When it was cancelled (epoch ms): Google purges cancelled events some time later. */
  cancelledAt?: number;
}

/** The emulator's data, kept in the sandbox state (dropped by `/_sandbox/reset`). */
export class CalendarStore {
  calendars = new Map<string, SandboxCalendar>();
  /** calendarId -> eventId -> event */
  events = new Map<string, Map<string, SandboxEvent>>();
  seq = 0;
  /** After how long a cancelled event is purged (gone: 404, id free). */
  cancelledRetentionMs = DEFAULT_CANCELLED_RETENTION_MS;
  /** account -> epoch ms until which the account's calendars are read-only (usage limits). */
  readOnlyUntil = new Map<string, number>();

  /** Drops the calendar's cancelled events older than the retention, as Google eventually does. */
  purgeCancelled(calendarId: string, now = Date.now()): void {
    const events = this.events.get(calendarId);
    if (!events) return;
    for (const [id, ev] of events) {
      if (ev.cancelledAt !== undefined && now - ev.cancelledAt >= this.cancelledRetentionMs) events.delete(id);
    }
  }

  /** Events of a calendar, in id order (including cancelled ones). */
  eventsOf(calendarId: string): SandboxEvent[] {
    return [...(this.events.get(calendarId)?.values() ?? [])].sort((a, b) => (a.resource.id < b.resource.id ? -1 : 1));
  }

  /** Live (not cancelled) events of a calendar. */
  liveEventsOf(calendarId: string): Array<SandboxEvent['resource']> {
    return this.eventsOf(calendarId)
      .filter((e) => e.resource.status !== 'cancelled')
      .map((e) => e.resource);
  }

  /** Calendars an account owns. */
  calendarsOf(account: string): SandboxCalendar[] {
    return [...this.calendars.values()].filter((c) => c.owner === account);
  }
}

/** The calendar store of a sandbox (tests read it as the ground truth). */
export function calendarStore(state: SandboxState): CalendarStore {
  return state.store('google-calendar', () => new CalendarStore());
}

/**
 * Calendar usage limits: Google makes a calendar read-only for hours when an account creates too
 * much; every write of the account answers 403 `quotaExceeded` (no Retry-After) until then.
 */
export function limitCalendarUsage(state: SandboxState, account: string, hours: number): void {
  calendarStore(state).readOnlyUntil.set(account.toLowerCase(), Date.now() + hours * 3600 * 1000);
}

/** Google's checks of extended properties and description; an error message or null. */
function validateEventLimits(resource: Record<string, unknown>): string | null {
  if (typeof resource.description === 'string' && resource.description.length > DESCRIPTION_LIMIT) return 'The description is too long.';
  const ext = resource.extendedProperties as Record<string, unknown> | undefined;
  for (const kind of ['private', 'shared']) {
    const props = ext?.[kind] as Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(props ?? {})) {
      if (k.length > EXTENDED_PROPERTY_LIMITS.key) return `Extended property key too long: at most ${EXTENDED_PROPERTY_LIMITS.key} characters.`;
      if (typeof v === 'string' && v.length > EXTENDED_PROPERTY_LIMITS.value) {
        return `Extended property value too long: at most ${EXTENDED_PROPERTY_LIMITS.value} characters.`;
      }
    }
  }
  return null;
}

type Ctx = Context;

function googleError(c: Ctx, status: number, reason: string, message: string, extra: Record<string, unknown> = {}) {
  const domain = reason.toLowerCase().includes('ratelimit') ? 'usageLimits' : 'global';
  return c.json({ error: { code: status, message, errors: [{ domain, reason, message, ...extra }] } }, status as 400);
}

/** A path parameter (always present on the routes that read it). */
function param(c: Ctx, name: string): string {
  return c.req.param(name) ?? '';
}

function hasScope(token: IssuedToken, ...scopes: string[]): boolean {
  const granted = new Set(token.scope.split(/\s+/));
  return scopes.some((s) => granted.has(s));
}

function randomBase32hex(length: number): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuv';
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % 32];
  return out;
}

function isValidTimeZone(tz: unknown): boolean {
  if (typeof tz !== 'string' || !tz) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Checks an event's start/end; returns an error message or null. */
function validateTimes(resource: Record<string, unknown>): string | null {
  const start = resource.start as { date?: string; dateTime?: string; timeZone?: string } | undefined;
  const end = resource.end as { date?: string; dateTime?: string; timeZone?: string } | undefined;
  if (!start || !end) return 'Missing end time.';
  for (const t of [start, end]) {
    if (t.date !== undefined && t.dateTime !== undefined) return 'Invalid start or end: both date and dateTime set.';
    if (t.date === undefined && t.dateTime === undefined) return 'Missing time.';
    if (t.date !== undefined && (!DATE.test(t.date) || Number.isNaN(Date.parse(`${t.date}T00:00:00Z`)))) return 'Invalid date.';
    if (t.dateTime !== undefined && Number.isNaN(Date.parse(t.dateTime))) return 'Invalid dateTime.';
    if (t.timeZone !== undefined && !isValidTimeZone(t.timeZone)) return 'Invalid time zone definition for start time.';
  }
  if ((start.date === undefined) !== (end.date === undefined)) return 'Start and end times must either both be date or both be dateTime.';
  if (start.date !== undefined) {
    if (end.date! <= start.date) return 'The specified time range is empty.';
  } else if (Date.parse(end.dateTime!) < Date.parse(start.dateTime!)) {
    return 'The specified time range is empty.';
  }
  return null;
}

/** JSON merge for PATCH: objects merge recursively, arrays and scalars replace, null removes. */
function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k])) {
      out[k] = mergePatch(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out;
}

/** Fields the client may not set (the server owns them). */
const SERVER_FIELDS = ['kind', 'etag', 'htmlLink', 'created', 'updated', 'creator', 'organizer', 'iCalUID', 'sequence'];

function stripServerFields(body: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  for (const f of SERVER_FIELDS) delete out[f];
  return out;
}

interface SyncCursor {
  c: string;
  s: number;
}

function encodeToken(v: object): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function decodeToken<T>(v: string): T | null {
  try {
    return JSON.parse(Buffer.from(v, 'base64url').toString('utf8')) as T;
  } catch {
    return null;
  }
}

/** Mounts the Calendar v3 routes on the sandbox app. */
export const googleCalendarEmulator: ProviderEmulator = (app: Hono, ctx) => {
  const { state } = ctx;
  const store = () => calendarStore(state);

  /**
   * Authenticates the bearer token, applies token faults, quota/status faults, and hands the
   * handler the account. Records the request in the ledger with the handler's outcome.
   */
  const handle =
    (write: boolean, handler: (c: Ctx, auth: { account: string; token: IssuedToken }) => Promise<{ res: Response; object?: unknown; wrote?: boolean }>) =>
    async (c: Ctx) => {
      const path = new URL(c.req.url).pathname;
      // Missing, unknown, expired or revoked tokens answer 401; expire/revoke faults apply here.
      const bearer = resolveGoogleBearer(c, state);
      if (bearer instanceof Response) return bearer;
      const token = bearer.token;
      const faulted = await applyFaults(c, state, { provider: 'google', account: token.account });
      if (faulted) return faulted;
      if (!hasScope(token, CALENDAR_SCOPES.full, CALENDAR_SCOPES.events, CALENDAR_SCOPES.appCreated, CALENDAR_SCOPES.readonly)) {
        return googleError(c, 403, 'insufficientPermissions', 'Request had insufficient authentication scopes.');
      }
      const readOnlyUntil = store().readOnlyUntil.get(token.account);
      if (write && readOnlyUntil !== undefined && Date.now() < readOnlyUntil) {
        state.record({ provider: 'google', account: token.account, method: c.req.method, path, status: 403, write: false });
        return googleErrorResponse(c, 403, 'quotaExceeded');
      }
      const { res, object, wrote } = await handler(c, { account: token.account, token });
      state.record({
        provider: 'google',
        account: token.account,
        method: c.req.method,
        path,
        status: res.status,
        write: write && (wrote ?? (res.status >= 200 && res.status < 300)),
        ...(object !== undefined && res.status < 300 ? { object } : {}),
      });
      return res;
    };

  const ensurePrimary = (account: string): SandboxCalendar => {
    const s = store();
    let cal = s.calendars.get(account);
    if (!cal) {
      cal = { id: account, owner: account, summary: account, timeZone: 'UTC', createdByClient: null, primary: true, etagN: 1 };
      s.calendars.set(account, cal);
    }
    return cal;
  };

  /** Resolves a calendar the token may use, or an error response. */
  const calendarFor = (
    c: Ctx,
    auth: { account: string; token: IssuedToken },
    rawId: string,
    need: 'events' | 'calendar' | 'read',
  ): SandboxCalendar | Response => {
    const id = rawId === 'primary' ? auth.account : rawId;
    if (id === auth.account) ensurePrimary(auth.account);
    const cal = store().calendars.get(id);
    if (!cal || cal.owner !== auth.account) return googleError(c, 404, 'notFound', 'Not Found');
    store().purgeCancelled(cal.id);
    const t = auth.token;
    const appCreatedOk = hasScope(t, CALENDAR_SCOPES.appCreated) && cal.createdByClient === t.clientId;
    const ok =
      hasScope(t, CALENDAR_SCOPES.full) ||
      appCreatedOk ||
      (need === 'events' && hasScope(t, CALENDAR_SCOPES.events)) ||
      (need === 'read' && hasScope(t, CALENDAR_SCOPES.events, CALENDAR_SCOPES.readonly));
    if (!ok) return googleError(c, 403, 'insufficientPermissions', 'Request had insufficient authentication scopes.');
    return cal;
  };

  const calendarResource = (cal: SandboxCalendar) => ({
    kind: 'calendar#calendar',
    etag: `"${cal.etagN}"`,
    id: cal.id,
    summary: cal.summary,
    ...(cal.description ? { description: cal.description } : {}),
    timeZone: cal.timeZone,
  });

  const readJson = async (c: Ctx): Promise<Record<string, unknown> | null> => {
    try {
      const body = await c.req.json();
      return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };

  // --- calendars -----------------------------------------------------------------------------

  app.post(
    '/calendar/v3/calendars',
    handle(true, async (c, auth) => {
      if (!hasScope(auth.token, CALENDAR_SCOPES.full, CALENDAR_SCOPES.appCreated)) {
        return { res: googleError(c, 403, 'insufficientPermissions', 'Request had insufficient authentication scopes.') };
      }
      const body = await readJson(c);
      if (!body || typeof body.summary !== 'string' || !body.summary) {
        return { res: googleError(c, 400, 'required', 'Missing title.') };
      }
      if (body.timeZone !== undefined && !isValidTimeZone(body.timeZone)) {
        return { res: googleError(c, 400, 'invalid', 'Invalid time zone.') };
      }
      const cal: SandboxCalendar = {
        id: `c_${randomBase32hex(26)}@group.calendar.google.com`,
        owner: auth.account,
        summary: body.summary,
        ...(typeof body.description === 'string' ? { description: body.description } : {}),
        timeZone: (body.timeZone as string | undefined) ?? 'UTC',
        createdByClient: auth.token.clientId,
        primary: false,
        etagN: 1,
      };
      store().calendars.set(cal.id, cal);
      const resource = calendarResource(cal);
      return { res: c.json(resource), object: resource };
    }),
  );

  app.get(
    '/calendar/v3/calendars/:calendarId',
    handle(false, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'calendar');
      if (cal instanceof Response) return { res: cal };
      return { res: c.json(calendarResource(cal)) };
    }),
  );

  const updateCalendar = (patch: boolean) =>
    handle(true, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'calendar');
      if (cal instanceof Response) return { res: cal };
      const body = await readJson(c);
      if (!body) return { res: googleError(c, 400, 'parseError', 'Parse Error') };
      if (!patch && typeof body.summary !== 'string') return { res: googleError(c, 400, 'required', 'Missing title.') };
      if (typeof body.summary === 'string') cal.summary = body.summary;
      if (typeof body.description === 'string') cal.description = body.description;
      if (body.timeZone !== undefined) {
        if (!isValidTimeZone(body.timeZone)) return { res: googleError(c, 400, 'invalid', 'Invalid time zone.') };
        cal.timeZone = body.timeZone as string;
      }
      cal.etagN += 1;
      const resource = calendarResource(cal);
      return { res: c.json(resource), object: resource };
    });
  app.patch('/calendar/v3/calendars/:calendarId', updateCalendar(true));
  app.put('/calendar/v3/calendars/:calendarId', updateCalendar(false));

  app.delete(
    '/calendar/v3/calendars/:calendarId',
    handle(true, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'calendar');
      if (cal instanceof Response) return { res: cal };
      if (cal.primary) return { res: googleError(c, 400, 'cannotDeletePrimaryCalendar', 'Cannot delete primary calendar.') };
      store().calendars.delete(cal.id);
      store().events.delete(cal.id);
      return { res: c.body(null, 204), object: { id: cal.id, deleted: true }, wrote: true };
    }),
  );

  app.get(
    '/calendar/v3/users/me/calendarList',
    handle(false, async (c, auth) => {
      ensurePrimary(auth.account);
      const items = store()
        .calendarsOf(auth.account)
        .filter(
          (cal) =>
            hasScope(auth.token, CALENDAR_SCOPES.full, CALENDAR_SCOPES.readonly) ||
            (hasScope(auth.token, CALENDAR_SCOPES.appCreated) && cal.createdByClient === auth.token.clientId),
        )
        .map((cal) => ({ ...calendarResource(cal), kind: 'calendar#calendarListEntry', accessRole: 'owner', primary: cal.primary || undefined }));
      return { res: c.json({ kind: 'calendar#calendarList', items }) };
    }),
  );

  // --- events --------------------------------------------------------------------------------

  const eventsOf = (calendarId: string): Map<string, SandboxEvent> => {
    const s = store();
    let m = s.events.get(calendarId);
    if (!m) {
      m = new Map();
      s.events.set(calendarId, m);
    }
    return m;
  };

  const bump = (ev: SandboxEvent) => {
    const s = store();
    s.seq += 1;
    ev.seq = s.seq;
    ev.resource.etag = `"${s.seq}"`;
    ev.resource.updated = new Date().toISOString();
  };

  app.post(
    '/calendar/v3/calendars/:calendarId/events',
    handle(true, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'events');
      if (cal instanceof Response) return { res: cal };
      const raw = await readJson(c);
      if (!raw) return { res: googleError(c, 400, 'parseError', 'Parse Error') };
      const body = stripServerFields(raw);
      if (body.id !== undefined && body.iCalUID !== undefined) {
        return { res: googleError(c, 400, 'invalid', 'Supply either id or iCalUID, not both.') };
      }
      if (body.id !== undefined && (typeof body.id !== 'string' || !EVENT_ID.test(body.id))) {
        return { res: googleError(c, 400, 'invalid', 'Invalid resource id value.') };
      }
      const timeError = validateTimes(body);
      if (timeError) return { res: googleError(c, 400, timeError.includes('empty') ? 'timeRangeEmpty' : 'invalid', timeError) };
      const limitError = validateEventLimits(body);
      if (limitError) return { res: googleError(c, 400, 'invalid', limitError) };
      const id = (body.id as string | undefined) ?? randomBase32hex(26);
      const events = eventsOf(cal.id);
      if (events.has(id)) return { res: googleError(c, 409, 'duplicate', 'The requested identifier already exists.') };
      const now = new Date().toISOString();
      const ev: SandboxEvent = {
        calendarId: cal.id,
        seq: 0,
        resource: {
          kind: 'calendar#event',
          etag: '',
          ...body,
          id,
          status: typeof body.status === 'string' && body.status !== 'cancelled' ? body.status : 'confirmed',
          htmlLink: `${ctx.origin()}/calendar/event?eid=${id}`,
          created: now,
          updated: now,
          creator: { email: auth.account },
          organizer: { email: cal.id, displayName: cal.summary, self: true },
          iCalUID: `${id}@google.com`,
          sequence: 0,
          reminders: (body.reminders as object | undefined) ?? { useDefault: true },
          eventType: 'default',
        },
      };
      bump(ev);
      events.set(id, ev);
      return { res: c.json(ev.resource), object: structuredClone(ev.resource) };
    }),
  );

  app.get(
    '/calendar/v3/calendars/:calendarId/events/:eventId',
    handle(false, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'read');
      if (cal instanceof Response) return { res: cal };
      const ev = eventsOf(cal.id).get(param(c, 'eventId'));
      if (!ev) return { res: googleError(c, 404, 'notFound', 'Not Found') };
      const ifNoneMatch = c.req.header('if-none-match');
      if (ifNoneMatch && ifNoneMatch === ev.resource.etag) return { res: c.body(null, 304) };
      return { res: c.json(ev.resource) };
    }),
  );

  const modifyEvent = (mode: 'patch' | 'update') =>
    handle(true, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'events');
      if (cal instanceof Response) return { res: cal };
      const ev = eventsOf(cal.id).get(param(c, 'eventId'));
      if (!ev) return { res: googleError(c, 404, 'notFound', 'Not Found') };
      const ifMatch = c.req.header('if-match');
      if (ifMatch && ifMatch !== '*' && ifMatch !== ev.resource.etag) {
        return {
          res: googleError(c, 412, 'conditionNotMet', 'Precondition Failed', { location: 'If-Match', locationType: 'header' }),
        };
      }
      const raw = await readJson(c);
      if (!raw) return { res: googleError(c, 400, 'parseError', 'Parse Error') };
      const body = stripServerFields(raw);
      if (body.id !== undefined && body.id !== ev.resource.id) return { res: googleError(c, 400, 'invalid', 'Invalid resource id value.') };
      const keep = {
        kind: ev.resource.kind,
        id: ev.resource.id,
        etag: ev.resource.etag,
        htmlLink: ev.resource.htmlLink,
        created: ev.resource.created,
        updated: ev.resource.updated,
        creator: ev.resource.creator,
        organizer: ev.resource.organizer,
        iCalUID: ev.resource.iCalUID,
        sequence: ev.resource.sequence,
        eventType: ev.resource.eventType,
      };
      // A full update without a status restores a cancelled event (as Google does for re-inserted ids).
      const next =
        mode === 'patch'
          ? mergePatch(ev.resource, body)
          : { reminders: { useDefault: true }, ...body, ...keep, status: (body.status as string | undefined) ?? 'confirmed' };
      const timeError = validateTimes(next);
      if (timeError) return { res: googleError(c, 400, timeError.includes('empty') ? 'timeRangeEmpty' : 'invalid', timeError) };
      const limitError = validateEventLimits(next);
      if (limitError) return { res: googleError(c, 400, 'invalid', limitError) };
      const changedTimes = JSON.stringify([next.start, next.end]) !== JSON.stringify([ev.resource.start, ev.resource.end]);
      ev.resource = { ...(next as SandboxEvent['resource']), ...keep, status: (next.status as string) ?? 'confirmed' };
      if (ev.resource.status !== 'cancelled') delete ev.cancelledAt;
      if (changedTimes) ev.resource.sequence = (ev.resource.sequence as number) + 1;
      bump(ev);
      return { res: c.json(ev.resource), object: structuredClone(ev.resource) };
    });
  app.patch('/calendar/v3/calendars/:calendarId/events/:eventId', modifyEvent('patch'));
  app.put('/calendar/v3/calendars/:calendarId/events/:eventId', modifyEvent('update'));

  app.delete(
    '/calendar/v3/calendars/:calendarId/events/:eventId',
    handle(true, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'events');
      if (cal instanceof Response) return { res: cal };
      const ev = eventsOf(cal.id).get(param(c, 'eventId'));
      if (!ev) return { res: googleError(c, 404, 'notFound', 'Not Found') };
      if (ev.resource.status === 'cancelled') return { res: googleError(c, 410, 'deleted', 'Resource has been deleted') };
      const ifMatch = c.req.header('if-match');
      if (ifMatch && ifMatch !== '*' && ifMatch !== ev.resource.etag) {
        return { res: googleError(c, 412, 'conditionNotMet', 'Precondition Failed', { location: 'If-Match', locationType: 'header' }) };
      }
      ev.resource.status = 'cancelled';
      ev.cancelledAt = Date.now();
      bump(ev);
      return { res: c.body(null, 204), object: { id: ev.resource.id, status: 'cancelled' }, wrote: true };
    }),
  );

  // --- Test-only knobs (not part of Google's API) ---
  app.post('/_sandbox/google/usage-limit', async (c) => {
    const body = (await readJson(c)) as { account?: unknown; hours?: unknown } | null;
    if (typeof body?.account !== 'string' || typeof body.hours !== 'number' || body.hours < 0) {
      return c.json({ error: 'expected { account, hours }' }, 400);
    }
    limitCalendarUsage(state, body.account, body.hours);
    return c.body(null, 204);
  });
  app.post('/_sandbox/google/cancelled-retention', async (c) => {
    const body = (await readJson(c)) as { ms?: unknown } | null;
    if (typeof body?.ms !== 'number' || body.ms < 0) return c.json({ error: 'expected { ms }' }, 400);
    store().cancelledRetentionMs = body.ms;
    return c.body(null, 204);
  });

  app.get(
    '/calendar/v3/calendars/:calendarId/events',
    handle(false, async (c, auth) => {
      const cal = calendarFor(c, auth, param(c, 'calendarId'), 'read');
      if (cal instanceof Response) return { res: cal };
      const q = c.req.queries();
      const one = (k: string) => q[k]?.[0];
      const maxResults = Math.min(2500, Math.max(1, Number(one('maxResults') ?? 250) || 250));
      const syncTokenRaw = one('syncToken');
      const privateFilters = (q.privateExtendedProperty ?? []).map((p) => {
        const i = p.indexOf('=');
        return [p.slice(0, i), p.slice(i + 1)] as const;
      });
      if (syncTokenRaw !== undefined) {
        const incompatible = ['iCalUID', 'orderBy', 'privateExtendedProperty', 'q', 'sharedExtendedProperty', 'timeMin', 'timeMax', 'updatedMin'];
        if (incompatible.some((k) => q[k] !== undefined)) {
          return { res: googleError(c, 400, 'invalid', 'Sync token cannot be combined with the given filters.') };
        }
      }
      // Page tokens carry the offset and the store sequence at the first page (the snapshot the
      // final nextSyncToken stands for), and the sync token the listing started from.
      let page = { o: 0, s: store().seq, since: -1 };
      const pageTokenRaw = one('pageToken');
      if (pageTokenRaw) {
        const decoded = decodeToken<{ o: number; s: number; since: number; c: string }>(pageTokenRaw);
        if (!decoded || decoded.c !== cal.id) return { res: googleError(c, 400, 'invalid', 'Invalid page token value.') };
        page = decoded;
      } else if (syncTokenRaw !== undefined) {
        const cursor = decodeToken<SyncCursor>(syncTokenRaw);
        if (!cursor || cursor.c !== cal.id || typeof cursor.s !== 'number' || cursor.s > store().seq) {
          return { res: googleError(c, 410, 'fullSyncRequired', 'Sync token is no longer valid, a full sync is required.') };
        }
        page.since = cursor.s;
      }
      const showDeleted = one('showDeleted') === 'true';
      const all = store()
        .eventsOf(cal.id)
        .filter((e) => {
          if (page.since >= 0) return e.seq > page.since; // incremental: deleted items included
          if (!showDeleted && e.resource.status === 'cancelled') return false;
          const props = ((e.resource.extendedProperties as { private?: Record<string, string> } | undefined)?.private ?? {}) as Record<string, string>;
          return privateFilters.every(([k, v]) => props[k] === v);
        });
      const items = all.slice(page.o, page.o + maxResults).map((e) => e.resource);
      const more = page.o + maxResults < all.length;
      const body: Record<string, unknown> = {
        kind: 'calendar#events',
        etag: `"${store().seq}"`,
        summary: cal.summary,
        timeZone: cal.timeZone,
        updated: new Date().toISOString(),
        accessRole: 'owner',
        items,
      };
      if (more) body.nextPageToken = encodeToken({ ...page, o: page.o + maxResults, c: cal.id });
      else body.nextSyncToken = encodeToken({ c: cal.id, s: page.s } satisfies SyncCursor);
      return { res: c.json(body) };
    }),
  );
};
