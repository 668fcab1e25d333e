import { z } from 'zod';
import type { ConnectorManifest, ConnectorSettings } from '../types.ts';

/** Google Calendar: what it is, what it may carry, its provider limits and its settings. */
export const manifest: ConnectorManifest = {
  id: 'google_calendar',
  displayName: 'Google Calendar',
  authKind: 'oauth2',
  categories: ['calendar.events', 'calendar.events.details'],
  defaultCategories: ['calendar.events'],
  // An event belongs to a case: a change of either can change what the calendar shows.
  triggers: ['cases', 'events'],
  capabilities: ['push'],
  // Google's default quotas (a raised quota: GOOGLE_USER_RATE_PER_MINUTE, GOOGLE_PROJECT_RATE_PER_MINUTE).
  rateBudgets: {
    perAccount: { limit: 600, windowSeconds: 60, concurrency: 8 },
    perProject: { limit: 10_000, windowSeconds: 60 },
  },
  providerRevoke: true,
};

/** Scopes: the narrowest that does the job. A dedicated calendar needs only `calendar.app.created`. */
export const GOOGLE_SCOPES = {
  appCreated: 'https://www.googleapis.com/auth/calendar.app.created',
  events: 'https://www.googleapis.com/auth/calendar.events',
  /** Full calendar access: never asked for, but it covers what the narrower scopes allow. */
  full: 'https://www.googleapis.com/auth/calendar',
  identity: ['openid', 'email'],
} as const;

/** Reminder before a deadline when `deadlineReminders` is on (minutes; Google allows up to 4 weeks). */
const reminderMinutes = z.number().int().min(0).max(40_320);

/** Settings given when connecting. */
export const createSettingsSchema = z
  .object({
    /** An existing calendar to write into (scope `calendar.events`); absent = a dedicated calendar is created. */
    calendarId: z.string().min(1).max(1024).optional(),
    /** Name of the dedicated calendar (default GOOGLE_CALENDAR_NAME). */
    calendarName: z.string().trim().min(1).max(255).optional(),
    deadlineReminders: z.boolean().default(false),
    reminderMinutes: reminderMinutes.default(24 * 60),
    /** What full reconciles do with events the user edited or deleted in Google. */
    driftPolicy: z.enum(['restore', 'leave']).default('restore'),
  })
  .strict()
  .refine((s) => !(s.calendarId && s.calendarName), { message: 'give calendarId (an existing calendar) or calendarName (a new one), not both' });

/** Settings a user may change later (the target calendar is fixed: another calendar is another connection). */
export const patchSettingsSchema = z
  .object({
    calendarName: z.string().trim().min(1).max(255).optional(),
    deadlineReminders: z.boolean().optional(),
    reminderMinutes: reminderMinutes.optional(),
    driftPolicy: z.enum(['restore', 'leave']).optional(),
  })
  .strict();

/** The stored settings: the user's choices plus what provisioning learned. */
export interface GoogleCalendarSettings {
  calendarId?: string;
  calendarName?: string;
  deadlineReminders?: boolean;
  reminderMinutes?: number;
  driftPolicy?: 'restore' | 'leave';
  /** True when Casebridge created the calendar (revocation may then delete it whole). */
  calendarCreatedByCasebridge?: boolean;
  /** Name the dedicated calendar has at Google (a rename is due when it differs from calendarName). */
  calendarRemoteName?: string;
}

export const settings: ConnectorSettings = {
  create: createSettingsSchema as unknown as z.ZodType<Record<string, unknown>>,
  patch: patchSettingsSchema as unknown as z.ZodType<Record<string, unknown>>,
  view(raw) {
    const s = raw as GoogleCalendarSettings;
    return {
      calendarId: s.calendarId ?? null,
      calendarName: s.calendarCreatedByCasebridge ? (s.calendarName ?? s.calendarRemoteName ?? null) : null,
      dedicatedCalendar: s.calendarCreatedByCasebridge ?? !s.calendarId,
      deadlineReminders: s.deadlineReminders ?? false,
      reminderMinutes: s.reminderMinutes ?? 24 * 60,
      driftPolicy: s.driftPolicy ?? 'restore',
    };
  },
  destination(raw) {
    return (raw as GoogleCalendarSettings).calendarId ?? null;
  },
};
