import { connectorFor } from '../../connectors/registry.ts';
import type { ConnectionView } from '../connections/service.ts';

/** How a connection's state reads on a page: a short label, its tone, one sentence, and whether a run is under way. */
export interface StatusWords {
  label: string;
  tone: 'ok' | 'info' | 'warn' | 'bad';
  detail: string;
  /** A sync is running or waiting: the page keeps its progress live. */
  running: boolean;
  /** Done and total of the running sync, when known. */
  step?: { done: number; total: number };
}

interface ProgressShape {
  state?: string;
  planned?: { create?: number; update?: number; delete?: number };
  done?: { created?: number; updated?: number; deleted?: number; failed?: number; blocked?: number };
  remaining?: number;
  resumesAt?: string;
  message?: string;
}

/** Pure: the connection's status in words (syncing n of m, up to date, needs you to reconnect, paused by your admin). */
export function statusWords(view: ConnectionView, now: Date = new Date()): StatusWords {
  const p = (view.progress ?? null) as ProgressShape | null;
  const platform = view.platformName;
  switch (view.status) {
    case 'pending':
      return { label: 'Not finished', tone: 'warn', detail: `Sign in to ${platform} to finish connecting. Nothing is shared until you do.`, running: false };
    case 'reauth_required':
      return {
        label: 'Needs you to reconnect',
        tone: 'bad',
        detail: `${platform} no longer accepts Casebridge's access. Reconnect to resume; nothing is sent meanwhile.`,
        running: false,
      };
    case 'paused':
      return {
        label: 'Paused by your admin',
        tone: 'warn',
        detail: 'Your administrator has paused this platform. Nothing is sent while it is paused.',
        running: false,
      };
    case 'revoked':
      return { label: 'Disconnected', tone: 'info', detail: 'Disconnected. Nothing is sent any more.', running: false };
    case 'active':
      break;
  }
  if (!connectorFor(view.platform)?.sync) {
    // A feed is read by the subscriber's calendar app: there is no sync to report.
    return { label: 'Active', tone: 'ok', detail: 'Your calendar app reads this feed; every read is logged.', running: false };
  }
  if (p && (p.state === 'running' || p.state === 'waiting')) {
    const total = (p.planned?.create ?? 0) + (p.planned?.update ?? 0) + (p.planned?.delete ?? 0);
    const done = Math.max(0, total - (p.remaining ?? 0));
    const waiting = p.state === 'waiting' && p.resumesAt ? ` Waiting for ${platform}'s rate limit until ${timeOfDay(p.resumesAt)}.` : '';
    return {
      label: total ? `Syncing ${done} of ${total}` : 'Syncing',
      tone: 'info',
      detail: total ? `${done} of ${total} changes written to ${platform}.${waiting}` : `Working out what to send to ${platform}.${waiting}`,
      running: true,
      step: total ? { done, total } : undefined,
    };
  }
  if (!view.lastSyncAt) {
    return { label: 'Starting', tone: 'info', detail: 'The first sync starts in a moment.', running: true };
  }
  const errors = view.counts.errors;
  return {
    label: 'Up to date',
    tone: errors ? 'warn' : 'ok',
    detail: `Last synced ${relative(new Date(view.lastSyncAt), now)}; ${view.counts.synced} item${view.counts.synced === 1 ? '' : 's'} at ${platform}${errors ? `, ${errors} could not be written` : ''}.`,
    running: false,
  };
}

function timeOfDay(iso: string): string {
  return `${new Date(iso).toISOString().slice(11, 19)} UTC`;
}

/** "just now", "5 minutes ago", "on 4 Dec 2026". */
export function relative(at: Date, now: Date = new Date()): string {
  const s = Math.round((now.getTime() - at.getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} minute${Math.round(s / 60) === 1 ? '' : 's'} ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} hour${Math.round(s / 3600) === 1 ? '' : 's'} ago`;
  return `on ${shortDate(at)}`;
}

/** One formatter for every call: `toLocaleDateString` with options builds a new one each time (~60 µs). */
const SHORT_DATE = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** "4 Dec 2026" (UTC). */
export function shortDate(at: Date): string {
  return SHORT_DATE.format(at);
}
