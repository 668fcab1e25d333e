import { cleanText } from './log-entry.ts';

/**
 * What the transfer log keeps of a failed provider call: a class (error name or code), the provider's
 * HTTP status when known, and a message with anything that looks like a credential removed. The raw
 * error goes back to the caller for classification; only this summary is persisted.
 */
export interface ErrorSummary {
  errorClass: string;
  errorMessage: string | null;
  providerStatus: number | null;
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  [/\b(access_token|refresh_token|id_token|client_secret|code|token|password|apikey|api_key|key|secret|assertion)=([^&\s"']+)/gi, '$1=[redacted]'],
  [/"(access_token|refresh_token|id_token|client_secret|token|password|secret|assertion)"\s*:\s*"[^"]*"/gi, '"$1":"[redacted]"'],
  // JWTs and other long opaque tokens.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]'],
  [/\b(ya29\.|1\/\/)[A-Za-z0-9._-]{10,}/g, '[redacted-token]'],
  [/\b[A-Za-z0-9_-]{40,}\b/g, '[redacted]'],
];

/** Removes credential-looking substrings from a message. */
export function scrubSecrets(message: string): string {
  let out = message;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement);
  return out;
}

function numericStatus(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 100 && n <= 599 ? n : null;
}

/** Summarises any thrown value for the log. */
export function summariseError(err: unknown): ErrorSummary {
  if (!(err instanceof Error)) {
    return { errorClass: typeof err, errorMessage: cleanText(scrubSecrets(String(err)), 500), providerStatus: null };
  }
  const e = err as Error & { code?: unknown; status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  const providerStatus =
    numericStatus(e.status) ?? numericStatus(e.statusCode) ?? numericStatus(e.response?.status) ?? numericStatus(e.code);
  const code = typeof e.code === 'string' && !/^\d+$/.test(e.code) ? `:${e.code}` : '';
  return {
    errorClass: cleanText(`${e.name || e.constructor?.name || 'Error'}${code}`, 200)!,
    errorMessage: cleanText(scrubSecrets(e.message ?? ''), 500),
    providerStatus,
  };
}
