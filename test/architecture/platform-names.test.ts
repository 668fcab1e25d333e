import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, stripComments, tsFiles } from './source-files.ts';

/**
 * A connector owns its platform: outside `connectors/` (and `src/auth/`, where Google Sign-In is
 * sign-in, not a sync platform) nothing in `src/` or `queues/` names one.
 *
 * The rule, exactly: split the code (comments removed) into words — identifiers, string contents,
 * property names, split at case changes, `_`, `-`, `.`, `/` — and no word may start with a platform
 * or provider name: google, gcal, ical, imanage, outlook, microsoft. "calendar" alone is not a
 * platform: `calendar.events` is a consent category and a calendar date is case data; nor is a
 * file type (`application/vnd.ms-outlook` is how .msg documents arrive). The engines (`src/sync/`)
 * are held to more: not even their comments or messages say "calendar".
 *
 * Outside the rule, with the reason, in EXEMPT; files that still break it, with what is left to do,
 * in STILL_NAMING — pinned exactly, so the list can only shrink.
 */

const PLATFORM_WORD = /^(google|gcal|ical|imanage|outlook|microsoft)/i;

/** Files outside the rule, and why. */
const EXEMPT: Array<{ prefix: string; why: string }> = [
  { prefix: 'src/auth/', why: 'sign-in with Google or OneLogin is not a sync platform' },
  { prefix: 'src/api/routes/auth-', why: 'the sign-in routes (Google Sign-In, SAML, sign-in policy)' },
  { prefix: 'src/api/routes/me.ts', why: 'says how the user signed in (`google` or `saml`)' },
  { prefix: 'src/db/migrations/', why: 'applied history is never rewritten; a migration names the tables it created' },
  { prefix: 'src/api/routes/super-admin-domains.ts', why: 'verifies Google Workspace domains for sign-in, not a sync platform' },
  { prefix: 'src/cli/sign-in-commands.ts', why: 'the sign-in policy (Google Workspace domains) and SAML IdP commands' },
  { prefix: 'src/web/sign-in/', why: 'the sign-in pages (a button per authenticator: Google Sign-In, SAML), moved from src/auth/' },
  { prefix: 'src/web/pages/admin/sign-in-settings.tsx', why: 'the sign-in settings page (Workspace domains, SAML), as the policy routes' },
  { prefix: 'src/demo/', why: 'a scripted walkthrough that drives each platform end to end, a client like the tests' },
];

/** Files that still name a platform, and what is left. */
const STILL_NAMING: Record<string, string> = {
  'src/config/load.ts': 'provider endpoints of the Google OAuth client, shared by Google Sign-In and the calendar connector',
  'src/config/schema.ts': 'GOOGLE_CLIENT_ID/SECRET and the OAuth URLs, shared by sign-in and the calendar connector',
  'src/db/types.ts': "the one database type: the iCal connector's ical_feeds table and sign-in's allowedGoogleDomains",
  'src/api/routes/connections.ts': 'examples in OpenAPI descriptions (settings of Google Calendar)',
  'src/api/schemas/connections.ts': 'examples in OpenAPI descriptions (the settings of a Google Calendar connection)',
  'src/api/routes/admin-users.ts': 'describes sign-in identities (a Google account or a SAML NameID) in OpenAPI text',
  'src/api/schemas/users.ts': 'describes sign-in identities (a Google account id or a SAML NameID) in OpenAPI text',
  // Sign-in, not a sync platform — pinned rather than exempt so that no platform route can slip in.
  'src/api/routes/index.ts': 'registers the Google Sign-In routes by name (authGoogleRoutes)',
};

/** The words of a piece of code: identifiers and string contents split at case changes and separators. */
function wordsOf(code: string): string[] {
  return code
    .split(/[^A-Za-z0-9]+/)
    .flatMap((token) => token.split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/))
    .filter(Boolean);
}

/** The platform names a file's code mentions, with their lines. */
function platformMentions(source: string): Array<{ line: number; word: string }> {
  const code = stripComments(source).replace(/\bapplication\/[\w.+-]+/g, (m) => m.replace(/./g, ' '));
  return code.split('\n').flatMap((text, i) =>
    wordsOf(text)
      .filter((w) => PLATFORM_WORD.test(w))
      .map((word) => ({ line: i + 1, word })),
  );
}

describe('architecture: nothing outside connectors/ names a platform', () => {
  it('no file in src/ or queues/ names a sync platform, except the exempt ones and the pinned remainder', () => {
    const files = ['src', 'queues'].flatMap((d) => tsFiles(d)).filter((f) => !EXEMPT.some((e) => f.startsWith(e.prefix)));
    const found = files.flatMap((f) => platformMentions(fs.readFileSync(path.join(ROOT, f), 'utf8')).map((m) => `${f}:${m.line} ${m.word}`));
    expect(found.filter((f) => !(f.split(':')[0]! in STILL_NAMING))).toEqual([]);
    // A file fixed leaves the list: the remainder never hides a new mention elsewhere, nor outlives its fix.
    expect([...new Set(found.map((f) => f.split(':')[0]!))].sort()).toEqual(Object.keys(STILL_NAMING).sort());
  });

  it('queues/ and the engines in src/sync/ name no platform at all', () => {
    const found = ['queues', 'src/sync'].flatMap((d) => tsFiles(d)).filter((f) => platformMentions(fs.readFileSync(path.join(ROOT, f), 'utf8')).length);
    expect(found).toEqual([]);
  });

  it('the sync engines do not speak of calendars, not even in comments', () => {
    const found = tsFiles('src/sync').filter((f) => /calendar/i.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('finds identifiers, strings and property names, and leaves look-alikes alone', () => {
    const fixture = [
      "if (manifest.id === 'google_calendar') return config.GOOGLE_USER_RATE_PER_MINUTE;",
      'const feeds = icalFeedRoutes; const t = "ical_feeds";',
      "import { x } from '../connectors/outlook-contacts/client.ts';",
      '// Google in a comment does not count',
      'const canonical = canonicalJson(identical); const typical = 1;',
      "const msg = 'application/vnd.ms-outlook';",
    ].join('\n');
    expect(platformMentions(fixture).map((m) => `${m.line} ${m.word}`)).toEqual(['1 google', '1 GOOGLE', '2 ical', '2 ical', '3 outlook']);
  });
});
