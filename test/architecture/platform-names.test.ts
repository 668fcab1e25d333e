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
 * platform: `calendar.events` is a consent category and a calendar date is case data. The engines
 * (`src/sync/`) are held to more: not even their comments or messages say "calendar".
 */

const PLATFORM_WORD = /^(google|gcal|ical|imanage|outlook|microsoft)/i;

/** Files outside the rule, and why. */
const EXEMPT: Array<{ prefix: string; why: string }> = [
  { prefix: 'src/auth/', why: 'sign-in with Google or OneLogin is not a sync platform' },
];

/** The words of a piece of code: identifiers and string contents split at case changes and separators. */
export function wordsOf(code: string): string[] {
  return code
    .split(/[^A-Za-z0-9]+/)
    .flatMap((token) => token.split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/))
    .filter(Boolean);
}

/** The platform names a file's code mentions, with their lines. */
export function platformMentions(source: string): Array<{ line: number; word: string }> {
  const code = stripComments(source);
  return code.split('\n').flatMap((text, i) =>
    wordsOf(text)
      .filter((w) => PLATFORM_WORD.test(w))
      .map((word) => ({ line: i + 1, word })),
  );
}

describe('architecture: nothing outside connectors/ names a platform', () => {
  it('no file in src/ or queues/ names a sync platform (src/auth/ aside)', () => {
    const files = ['src', 'queues'].flatMap((d) => tsFiles(d)).filter((f) => !EXEMPT.some((e) => f.startsWith(e.prefix)));
    const found = files.flatMap((f) => platformMentions(fs.readFileSync(path.join(ROOT, f), 'utf8')).map((m) => `${f}:${m.line} ${m.word}`));
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
    ].join('\n');
    expect(platformMentions(fixture).map((m) => `${m.line} ${m.word}`)).toEqual([
      '1 google',
      '1 GOOGLE',
      '2 ical',
      '2 ical',
      '3 outlook',
    ]);
  });
});
