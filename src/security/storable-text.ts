/**
 * Text PostgreSQL cannot store: the NUL character (text columns refuse it) and unpaired UTF-16
 * surrogates (UTF-8 cannot encode them; jsonb refuses their `\ud800` escapes). JavaScript strings
 * may hold both. Used by the HTTP text guard (src/api/text-guard.ts) and the ingest schemas.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what PostgreSQL text refuses
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a string can be stored as it is. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/** Why a string was refused, for error details. */
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain the NUL character (U+0000) or an unpaired surrogate (\\ud800-\\udfff)';
