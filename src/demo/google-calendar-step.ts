import { connectorFor } from '../../connectors/registry.ts';
import { connectionTokens } from '../connections/token-access.ts';
import type { SyncProgress } from '../sync/reconcile.ts';
import { type ActingUser, actAs, SAMPLE_ADMIN_EMAIL, waitFor } from './as-user.ts';
import type { DemoContext, DemoStep } from './context.ts';

/**
 * Connects alice's sandbox Google account to Google Calendar the way the app does — `POST
 * /v1/connections`, the provider's authorization page (the sandbox signs the hinted account in at
 * once and redirects back), the OAuth callback — then waits for the first reconcile on the
 * in-process workers and shows what arrived in the sandbox calendar next to the transfer log.
 *
 * Idempotent across runs: alice keeps at most one live connection. An active one is reused when it
 * still works at the provider the service now talks to; the demo's sandbox keeps everything in
 * memory, so a connection from an earlier run holds tokens and a calendar the new sandbox never
 * issued. Asking the provider is the robust test (rather than, say, comparing URLs: a sandbox
 * restarted on the same port is a different sandbox): the service's own token access refreshes a
 * token that is due (a refused refresh marks the connection `reauth_required`, as in production),
 * and Google's tokeninfo endpoint says whether the access token is live — no case data is sent.
 * A connection that fails the test, and any other leftover (pending, reauth_required, paused), is
 * disconnected through `DELETE /v1/connections/{id}` (the revocation pipeline: consent withdrawn,
 * jobs cancelled, provider grant revoked, tokens shredded), and a new one is made.
 */

const PLATFORM = 'google_calendar';
const SYNC_TIMEOUT_MS = 180_000;

interface ConnectionView {
  id: string;
  platform: string;
  status: string;
  account: string | null;
  lastSyncAt: string | null;
  progress: Partial<SyncProgress> | null;
  lastError: { code: string; message: string } | null;
}

interface LedgerEntry {
  atMs: number;
  account: string | null;
  method: string;
  path: string;
  status: number;
  write: boolean;
  object?: unknown;
}

interface CalendarEvent {
  id: string;
  summary?: string;
  status?: string;
  start?: { date?: string; dateTime?: string; timeZone?: string };
}

export const googleCalendarStep: DemoStep = {
  name: 'google-calendar',
  async run(ctx) {
    const heading = 'Google Calendar (sandbox)';
    if (!ctx.sandbox) {
      ctx.print(
        'Google Calendar',
        'not connected by the demo: with real Google a person grants access. Sign in, then POST /v1/connections ' +
          '{"platform":"google_calendar","categories":["calendar.events"],"caseScope":{"kind":"all"}} and open the authorizationUrl.',
      );
      return;
    }
    const org = ctx.seed!.organizations[0]!;
    const alice = await actAs(ctx, { organizationId: org.id, email: SAMPLE_ADMIN_EMAIL });
    try {
      const started = Date.now();
      const { connectionId, how } = await ensureConnection(ctx, alice);
      ctx.progress(`Google Calendar: ${alice.email} connected (connection ${how}); waiting for the sync…`);
      const connection = await waitUntilSynced(ctx, alice, connectionId, started);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const report = await describeSync(ctx, connection, started);
      const base = ctx.config!.PUBLIC_BASE_URL;
      ctx.print(
        heading,
        `${alice.email}: connection ${connectionId} (${how})`,
        `synced in ${seconds} s: ${report.liveEvents} events in the calendar ${report.calendar}`,
        `sandbox ledger, this run: ${report.requests} Google requests from ${alice.email}, ${report.writes} of them writes`,
        ...report.samples.map((s) => `  e.g. ${s}`),
        `transfer log of this connection: ${report.outcomes}`,
        `look at (signed in as ${alice.email}):`,
        `  ${base}/v1/connections/${connectionId}`,
        `  ${base}/v1/transfers?connectionId=${connectionId}`,
        `  ${ctx.sandbox.url}/_sandbox/ledger?provider=google&writes=true`,
      );
    } catch (err) {
      // The rest of the demo is still worth having: say what went wrong instead of not starting.
      const message = err instanceof Error ? err.message : String(err);
      ctx.progress(`Google Calendar: FAILED: ${message}`);
      ctx.print(heading, `FAILED: ${message}`);
    } finally {
      await alice.end();
    }
  },
};

/** Reuses alice's working connection or makes a new one (see the file comment). */
async function ensureConnection(ctx: DemoContext, alice: ActingUser): Promise<{ connectionId: string; how: string }> {
  const { items: connections } = (await alice.call<{ items: ConnectionView[]; nextCursor: string | null }>('GET', '/v1/connections?limit=200')).body;
  const live = connections.filter((c) => c.platform === PLATFORM && c.status !== 'revoked');
  let reused: ConnectionView | undefined;
  for (const c of live) {
    if (!reused && c.status === 'active' && (await worksAtProvider(ctx, c.id))) reused = c;
  }
  const stale = live.filter((c) => c !== reused);
  for (const c of stale) await disconnect(ctx, alice, c.id);
  const replaced = stale.length ? `; ${stale.length} earlier connection(s) that no longer work disconnected` : '';

  if (reused) {
    await ctx.services!.queues.enqueueSync(reused.id, 'manual');
    return { connectionId: reused.id, how: `reused, reconciled again${replaced}` };
  }
  const created = await alice.call<{ connection: ConnectionView; authorizationUrl: string }>('POST', '/v1/connections', {
    platform: PLATFORM,
    categories: ['calendar.events'],
    caseScope: { kind: 'all' },
    loginHint: alice.email,
  });
  // The person's part, done by the sandbox: with login_hint it signs the account in, grants the
  // scopes and redirects back to our callback at once.
  const authorize = await fetch(created.body.authorizationUrl, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (authorize.status !== 302 || !location) throw new Error(`the sandbox's Google authorization answered ${authorize.status}, not a redirect`);
  const back = new URL(location);
  await alice.call('GET', `${back.pathname}${back.search}`);
  return { connectionId: created.body.connection.id, how: `new${replaced}` };
}

/**
 * Whether the connection's grant is alive at the provider: a usable access token (refreshed by the
 * service's token access if due) that Google's tokeninfo endpoint accepts.
 */
async function worksAtProvider(ctx: DemoContext, connectionId: string): Promise<boolean> {
  const services = ctx.services!;
  const oauth = connectorFor(PLATFORM)!.oauth!;
  try {
    const tokens = connectionTokens(services, oauth, PLATFORM);
    const accessToken = await tokens.get(connectionId);
    const tokeninfo = services.config.providers.googleTokenUrl.replace(/\/token$/, '/tokeninfo');
    const res = await fetch(`${tokeninfo}?access_token=${encodeURIComponent(accessToken)}`);
    return res.ok;
  } catch {
    return false; // no tokens, a refused refresh, or the provider unreachable: not worth keeping
  }
}

/**
 * Disconnects one of alice's connections. It is revoked when the request returns; the clean-up
 * (provider grant, tokens) runs on the revoke queue, which the demo waits for briefly so that a
 * private Redis stopped at exit does not take the job with it.
 */
async function disconnect(ctx: DemoContext, alice: ActingUser, connectionId: string): Promise<void> {
  const { body } = await alice.call<{ revocation: { id: string } }>('DELETE', `/v1/connections/${connectionId}`);
  const db = ctx.services!.db;
  await waitFor(
    `the clean-up of connection ${connectionId}`,
    async () => {
      const row = await db.selectFrom('revocations').select('status').where('id', '=', body.revocation.id).executeTakeFirst();
      return row && row.status !== 'in_progress' ? row.status : undefined;
    },
    { timeoutMs: 15_000 },
  ).catch((err: Error) => ctx.progress(`note: ${err.message}; it continues in the background`));
}

/**
 * Waits until the connection's reconcile that started after `since` finished and no further sync job
 * is waiting (a run may queue a follow-up). A connection that needs re-authorization, or a run that
 * failed for good, ends the wait with its plain-words error.
 */
async function waitUntilSynced(ctx: DemoContext, alice: ActingUser, connectionId: string, since: number): Promise<ConnectionView> {
  const queue = ctx.services!.queues.sync;
  let quietPolls = 0;
  let reported = '';
  return waitFor(
    'the first sync',
    async () => {
      const { connection } = (await alice.call<{ connection: ConnectionView }>('GET', `/v1/connections/${connectionId}`)).body;
      if (connection.status !== 'active' || connection.progress?.state === 'failed') {
        throw new Error(`the connection did not sync: ${connection.status}, ${connection.lastError?.message ?? 'no error recorded'}`);
      }
      // What the connection's progress says while it runs (the API's own view, as a client would poll it).
      const line = progressLine(connection.progress, ctx.config!.GOOGLE_USER_RATE_PER_MINUTE);
      if (line && line !== reported) {
        reported = line;
        ctx.progress(`Google Calendar: ${line}`);
      }
      const jobId = await queue.getDeduplicationJobId(connectionId);
      const job = jobId ? await queue.getJob(jobId) : undefined;
      const jobState = job ? await job.getState() : 'none';
      const synced =
        connection.progress?.state === 'idle' &&
        connection.lastSyncAt !== null &&
        Date.parse(connection.lastSyncAt) >= since - 1000 &&
        ['none', 'unknown', 'completed', 'failed'].includes(jobState);
      // Two quiet polls in a row: a finishing run may queue its follow-up in between.
      quietPolls = synced ? quietPolls + 1 : 0;
      return quietPolls >= 2 ? connection : undefined;
    },
    { timeoutMs: SYNC_TIMEOUT_MS, intervalMs: 300 },
  );
}

/** A line for a running or waiting sync: how far it is, and why it waits. */
export function progressLine(p: Partial<SyncProgress> | null, perMinute: number): string | null {
  if (!p?.done || !p.planned) return null;
  const planned = p.planned.create + p.planned.update + p.planned.delete;
  const done = p.done.created + p.done.updated + p.done.deleted;
  if (p.state === 'running' && planned > 0) {
    return `${done} of ${planned} changes written (within Google's ${perMinute} requests a minute per user)`;
  }
  if (p.state === 'waiting') return `waiting${p.resumesAt ? ` until ${p.resumesAt}` : ''}${p.message ? `: ${p.message}` : ''}`;
  return null;
}

/** The calendar as the sandbox ledger shows it, and the connection's transfer-log rows by outcome. */
async function describeSync(ctx: DemoContext, connection: ConnectionView, since: number) {
  const { db } = ctx.services!;
  const row = await db.selectFrom('connections').select('settings').where('id', '=', connection.id).executeTakeFirstOrThrow();
  const settings = row.settings as { calendarId?: string; calendarName?: string };
  const calendarId = settings.calendarId ?? '';

  const res = await fetch(`${ctx.sandbox!.url}/_sandbox/ledger?provider=google`);
  const { entries: all } = (await res.json()) as { entries: LedgerEntry[] };
  const entries = all.filter((e) => e.write);
  const thisRun = all.filter((e) => e.atMs >= since && e.account === connection.account);
  // Replays the event writes to this calendar: the last write of each event wins, deletes remove.
  const events = new Map<string, CalendarEvent>();
  const eventsPath = `/calendar/v3/calendars/${calendarId}/events`;
  for (const e of entries) {
    const p = safeDecode(e.path);
    if (!p.startsWith(eventsPath) || e.status >= 300) continue;
    if (e.method === 'DELETE') events.delete(p.slice(eventsPath.length + 1));
    else if (isEvent(e.object)) events.set(e.object.id, e.object);
  }
  const live = [...events.values()].filter((e) => e.status !== 'cancelled');
  const startOf = (e: CalendarEvent) => e.start?.dateTime ?? e.start?.date ?? '';
  const upcoming = live.filter((e) => startOf(e) >= new Date().toISOString().slice(0, 10)).sort((a, b) => startOf(a).localeCompare(startOf(b)));
  const samples = (upcoming.length ? upcoming : live).slice(0, 3).map((e) => {
    const start = e.start?.dateTime ? `${e.start.dateTime.slice(0, 16).replace('T', ' ')} ${e.start.timeZone ?? ''}`.trim() : `${e.start?.date} (all day)`;
    return `${start}  ${e.summary ?? '(no title)'}`;
  });

  const outcomes = await db
    .selectFrom('transfer_log')
    .select(['outcome', (eb) => eb.fn.countAll<number>().as('n')])
    .where('connection_id', '=', connection.id)
    .groupBy('outcome')
    .execute();
  const order = ['intent', 'sent', 'received', 'not_modified', 'failed', 'blocked'];
  const byOutcome = new Map(outcomes.map((o) => [String(o.outcome), Number(o.n)]));
  const outcomeText = [...order, ...[...byOutcome.keys()].filter((k) => !order.includes(k))]
    .filter((k) => byOutcome.has(k) || k === 'sent' || k === 'failed' || k === 'blocked')
    .map((k) => `${byOutcome.get(k) ?? 0} ${k}`)
    .join(', ');

  return {
    calendar: `"${settings.calendarName ?? ctx.config!.GOOGLE_CALENDAR_NAME}" (${calendarId})`,
    liveEvents: live.length,
    requests: thisRun.length,
    writes: thisRun.filter((e) => e.write).length,
    samples,
    outcomes: outcomeText,
  };
}

function isEvent(value: unknown): value is CalendarEvent {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' && 'start' in value;
}

function safeDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}
