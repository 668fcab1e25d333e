import { type ConnectorOAuth, jwtClaims } from '../../src/connections/oauth-types.ts';
import type { Connector } from '../types.ts';
import { applyContactsPage, sweepContacts } from './apply.ts';
import { exchangeMicrosoftCode, microsoftAuthorizationEndpoint, microsoftClientId, refreshMicrosoftToken } from './client.ts';
import { fetchContactsPage } from './delta.ts';
import { classifyGraphError } from './errors.ts';
import { outlookMailbox } from './mail.ts';
import { MICROSOFT_SCOPES, manifest, type OutlookContactsSettings, settings } from './manifest.ts';
import { revokeOutlookContacts } from './revoke.ts';

/** Microsoft's side of the generic OAuth flow: identity platform v2, PKCE, rotating refresh tokens. */
const oauth: ConnectorOAuth = {
  authorizationEndpoint: microsoftAuthorizationEndpoint,
  clientId: microsoftClientId,
  scopes: (s) => [...MICROSOFT_SCOPES.base, ...((s as OutlookContactsSettings).sendInvitationsFromMailbox ? [MICROSOFT_SCOPES.sendMail] : [])],
  // `select_account`: a user with several Microsoft accounts picks the one to import from.
  extraAuthParams: { prompt: 'select_account' },
  loginHintParam: 'login_hint',
  exchangeCode: exchangeMicrosoftCode,
  refresh: refreshMicrosoftToken,
  accountFromTokens: (tokens) => {
    const claims = jwtClaims(tokens.idToken);
    const account = claims?.email ?? claims?.preferred_username;
    return typeof account === 'string' ? account.toLowerCase() : null;
  },
};

/** Outlook contacts: a user's address book imported through Microsoft Graph delta (capability `pull`). */
export const outlookContacts: Connector = {
  manifest,
  oauth,
  settings,
  revoke: revokeOutlookContacts,
  mailbox: outlookMailbox,
  pull: {
    fetchPage: fetchContactsPage,
    applyPage: applyContactsPage,
    applyPageWithCursor: applyContactsPage,
    sweep: sweepContacts,
    classifyError: classifyGraphError,
  },
};
