import { loadEventsInScope } from '../../src/cases/queries.ts';
import { type ConnectorOAuth, jwtClaims } from '../../src/connections/oauth-types.ts';
import { exchangeGoogleCode, googleAuthorizationEndpoint, googleOAuthClientId, refreshGoogleToken, revokeGoogleToken } from './client.ts';
import { registerWriteCheck } from '../../src/transfers/resolution.ts';
import type { Connector } from '../types.ts';
import { applyGoogleSteps } from './apply.ts';
import { classifyGoogleError } from './errors.ts';
import { GOOGLE_SCOPES, type GoogleCalendarSettings, manifest, settings } from './manifest.ts';
import { projectEvents } from './project.ts';
import { listGoogleRemote, prepareGoogleCalendar } from './provision.ts';
import { createGoogleRevoke } from './revoke.ts';
import { createGoogleWriteCheck } from './write-check.ts';

/**
 * The calendar scope a connection needs. Chosen from whether Casebridge created the calendar, not
 * from whether a calendar id is set: provisioning stores the id of the dedicated calendar too, and a
 * reconnect must ask for `calendar.app.created` again (after the user removed access, Google's
 * grant no longer has it, and renaming or deleting the dedicated calendar would get 403).
 */
export function calendarScopeFor(settings: GoogleCalendarSettings): string {
  return settings.calendarId && !settings.calendarCreatedByCasebridge ? GOOGLE_SCOPES.events : GOOGLE_SCOPES.appCreated;
}

/** Google's side of the generic OAuth flow: offline access, forced consent, narrowest scope. */
const oauth: ConnectorOAuth = {
  authorizationEndpoint: googleAuthorizationEndpoint,
  clientId: googleOAuthClientId,
  scopes: (s) => [...GOOGLE_SCOPES.identity, calendarScopeFor(s as GoogleCalendarSettings)],
  // Users can untick the calendar on Google's consent screen: an active connection that cannot write is refused at once.
  checkGrant: (tokens, s) => {
    const needed = calendarScopeFor(s as GoogleCalendarSettings);
    const granted = new Set((tokens.scope ?? '').split(/\s+/));
    // `calendar` (full access) covers both narrower scopes.
    if (granted.has(needed) || granted.has(GOOGLE_SCOPES.full)) return null;
    return {
      code: 'scope_not_granted',
      message: "Calendar access was not granted: on Google's consent screen, leave the calendar permission ticked. Try connecting again.",
    };
  },
  // offline + consent: Google only returns a refresh token on a consent screen it actually showed.
  extraAuthParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
  loginHintParam: 'login_hint',
  exchangeCode: exchangeGoogleCode,
  refresh: refreshGoogleToken,
  revokeToken: revokeGoogleToken,
  accountFromTokens: (tokens) => {
    const email = jwtClaims(tokens.idToken)?.email;
    return typeof email === 'string' ? email.toLowerCase() : null;
  },
};

/** Google Calendar: the first complete connector (OAuth, sync, revoke). */
export const googleCalendar: Connector = {
  manifest,
  oauth,
  settings,
  revoke: createGoogleRevoke(oauth),
  sync: {
    async desired({ services, connection, consent }) {
      const events = await loadEventsInScope(services.db, {
        organizationId: connection.organizationId,
        userEmail: connection.userEmail,
        caseScope: consent.caseScope,
      });
      return projectEvents({ events, categories: consent.categories, connectionId: connection.id, settings: connection.settings as GoogleCalendarSettings });
    },
    prepare: prepareGoogleCalendar,
    apply: applyGoogleSteps,
    listRemote: listGoogleRemote,
    driftPolicy: (s) => ((s as GoogleCalendarSettings).driftPolicy === 'leave' ? 'leave' : 'restore'),
    classifyError: classifyGoogleError,
  },
};

// How the transfer log resolves a Google call of unknown outcome (src/transfers/resolution.ts).
registerWriteCheck(manifest.id, createGoogleWriteCheck(oauth));
