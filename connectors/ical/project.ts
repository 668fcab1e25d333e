import type { EventWithCase } from '../../src/cases/queries.ts';
import { freezeDeep } from '../../src/transfers/canonical.ts';
import type { TransferItem } from '../../src/transfers/types.ts';
import { feedDestination, icalManifest } from './manifest.ts';

/**
 * Projection of a feed: case data ∩ consent scope → ONE transfer item for the whole feed.
 *
 * A fetch is one transfer (one log row pair naming every event and case), so the item is the whole
 * calendar, stored column-wise: each registry field name (`title`, `start`, …, `description`,
 * `participantNames`) maps to an array with one entry per event. The gate minimises by field name,
 * so without `calendar.events.details` the `description` and `participantNames` columns are removed
 * before the renderer sees anything — minimisation stays real while the log row stays one per fetch.
 *
 * What is not a registry field travels in the {@link FeedEnvelope}, aligned by index: the event id
 * (UID), its version (SEQUENCE) and last change (DTSTAMP) — identifiers and revision metadata that
 * the RFC requires, no content of any category.
 */

/** Column-wise fields of a feed, keyed by the registry's field names (consent/categories.ts). */
export type FeedColumns = {
  title: string[];
  /** Timed: ISO-8601 instant (UTC). All-day: `YYYY-MM-DD`. */
  start: string[];
  /** Timed: ISO-8601 instant or null. All-day: the last day, inclusive, `YYYY-MM-DD`. */
  end: Array<string | null>;
  allDay: boolean[];
  timeZone: Array<string | null>;
  location: Array<string | null>;
  caseNumber: string[];
  description: Array<string | null>;
  participantNames: string[][];
};

/** Per-event identifiers and revision metadata, aligned with the columns. */
export interface FeedEnvelope {
  eventIds: string[];
  /** case_events.version: only grows, so SEQUENCE never goes back. */
  sequences: number[];
  /** case_events.updated_at as ISO-8601: DTSTAMP (the last revision, RFC 5545 §3.8.7.2 without METHOD). */
  stamps: string[];
}

/** The feed's transfer item plus its envelope. */
export interface FeedProjection {
  item: TransferItem & { fields: FeedColumns };
  envelope: FeedEnvelope;
}

/** Builds the one transfer item of a feed fetch from the events in scope (already case data ∩ consent scope). */
export function projectFeed(params: { feedId: string; events: readonly EventWithCase[] }): FeedProjection {
  const { events } = params;
  const columns: FeedColumns = {
    title: [],
    start: [],
    end: [],
    allDay: [],
    timeZone: [],
    location: [],
    caseNumber: [],
    description: [],
    participantNames: [],
  };
  const envelope: FeedEnvelope = { eventIds: [], sequences: [], stamps: [] };
  const caseIds = new Set<string>();
  for (const e of events) {
    const allDay = e.startsAt === null;
    if (allDay && e.startDate === null) continue; // neither timed nor dated: nothing a calendar can show
    columns.title.push(e.title);
    columns.allDay.push(allDay);
    if (allDay) {
      columns.start.push(e.startDate!);
      columns.end.push(e.endDate);
      columns.timeZone.push(null);
    } else {
      columns.start.push(e.startsAt!.toISOString());
      columns.end.push(e.endsAt ? e.endsAt.toISOString() : null);
      columns.timeZone.push(e.timeZone);
    }
    columns.location.push(e.location);
    columns.caseNumber.push(e.caseNumber);
    columns.description.push(e.description);
    columns.participantNames.push(e.participants.map((p) => p.name).filter((n) => typeof n === 'string' && n.trim() !== ''));
    envelope.eventIds.push(e.id);
    envelope.sequences.push(e.version);
    envelope.stamps.push(e.updatedAt.toISOString());
    caseIds.add(e.caseId);
  }
  const [required, ...optional] = icalManifest.categories;
  // Frozen (deeply): the render cache serves this projection to every fetch of an unchanged feed, and
  // a payload that cannot change lets the gate hash it and the transfer log store its subject set once.
  return {
    item: {
      operation: 'publish',
      categories: [required!, ...optional],
      subjects: freezeDeep({ caseIds: [...caseIds], eventIds: [...envelope.eventIds] }),
      recipient: { account: null, destination: feedDestination(params.feedId) },
      fields: freezeDeep(columns),
      itemKey: feedDestination(params.feedId),
    },
    envelope,
  };
}

/**
 * The item of a fetch answered 304 Not Modified: nothing is disclosed, so it carries no fields and
 * no subjects, but it still passes the gate's connection and consent checks and leaves a log row.
 */
export function notModifiedItem(feedId: string): TransferItem {
  const [required, ...optional] = icalManifest.categories;
  // Deeply frozen: a publisher keeps one per feed it serves, and the gate memoises what it derives
  // from a frozen item (its payload digest, its normalised subjects) instead of redoing it per fetch.
  return freezeDeep({
    operation: 'publish',
    categories: [required!, ...optional],
    subjects: {},
    recipient: { account: null, destination: feedDestination(feedId) },
    fields: {},
    itemKey: feedDestination(feedId),
  });
}
