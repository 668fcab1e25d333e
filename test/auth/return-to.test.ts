import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../src/auth/return-to.ts';

/**
 * The after-sign-in redirect target, as a browser reads it: whatever the input, the Location header
 * resolved against the app's origin stays on the app's origin.
 */

const APP = 'https://app.example';
const staysHome = (result: string) => new URL(result, APP).origin === APP;

describe('safeReturnTo decides on the resolved path', () => {
  it.each([
    '/..//evil.example/phish',
    '/.//evil.example',
    '/a/..//evil.example',
    '/a/b/../..//evil.example',
    '/%2e%2e//evil.example',
    '/%2E%2e//evil.example/phish',
    '/.%2e//evil.example',
    '/%2e//evil.example',
    '/\\evil.example',
    '/.\\/evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '/%2f/evil.example',
    '/%2F%2Fevil.example',
    '/%5cevil.example',
    '//evil.example',
    '///evil.example',
  ])('refuses %j (answers /)', (input) => {
    expect(safeReturnTo(input)).toBe('/');
  });

  it.each([
    ['/cases/42?tab=events#top', '/cases/42?tab=events#top'],
    ['/a/../cases', '/cases'],
    ['/cases/./42', '/cases/42'],
    ['/search?q=//evil.example', '/search?q=//evil.example'],
  ])('keeps the same-origin path %j as %j', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  // Pieces that matter to URL parsing: separators, dot segments in every encoding, whitespace the
  // parser drops, scheme and authority characters, and ordinary path text.
  const piece = fc.constantFrom(
    '/',
    '//',
    '\\',
    '.',
    '..',
    '%2e',
    '%2E',
    '%2e%2e',
    '.%2e',
    '%2f',
    '%2F',
    '%5c',
    '%5C',
    '%252e',
    '\t',
    '\n',
    '\r',
    ' ',
    '%09',
    '%00',
    '@',
    ':',
    '?',
    '#',
    ';',
    'https:',
    'javascript:',
    'evil.example',
    'app.example',
    'a',
    'cases',
    '42',
    'é',
    '\u3002',
  );
  const urlForm = fc.array(piece, { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));

  it('always yields a path on the app origin, whatever the URL form (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          urlForm,
          urlForm.map((s) => `/${s}`),
          fc.string({ maxLength: 40 }),
        ),
        (input) => {
          const result = safeReturnTo(input);
          expect(result.startsWith('/')).toBe(true);
          expect(result.startsWith('//')).toBe(false);
          expect(staysHome(result)).toBe(true);
          // Idempotent: the checked value is exactly what is returned.
          expect(safeReturnTo(result)).toBe(result);
        },
      ),
      { numRuns: 5000 },
    );
  });
});
