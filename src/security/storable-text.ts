/**
 * Text PostgreSQL cannot store: the NUL character (text columns refuse it) and unpaired UTF-16
 * surrogates (UTF-8 cannot encode them; jsonb refuses their `\ud800` escapes). JavaScript strings
 * may hold both. Used by the HTTP text guard (src/api/text-guard.ts) and the ingest schemas.
 */

/** `String.prototype.isWellFormed` (ES2024, in Node 20; the project's TypeScript lib is ES2023). */
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a string can be stored as it is (native checks: this runs for every ingested text field). */
export function isStorableText(value: string): boolean {
  if (value.includes('\u0000')) return false;
  return isWellFormed ? isWellFormed.call(value) : !LONE_SURROGATE.test(value);
}

/** Why a string was refused, for error details. */
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain the NUL character (U+0000) or an unpaired surrogate (\\ud800-\\udfff)';
