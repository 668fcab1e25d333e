import { hash, randomBytes } from 'node:crypto';

/** Random bytes per feed token: 256 bits, so guessing a live URL is hopeless and a plain hash suffices. */
export const FEED_TOKEN_BYTES = 32;

/** Characters of the token kept for the UI (`token_hint`): enough to tell feeds apart, useless to an attacker. */
export const TOKEN_HINT_LENGTH = 6;

/** A freshly minted feed token: the plain value (shown once) and what is stored. */
export interface MintedFeedToken {
  token: string;
  hash: string;
  hint: string;
}

/**
 * SHA-256 (hex) of a presented token. Lookups compare hashes in the database's unique index, never
 * the token itself, so response time does not depend on how much of a guess matches a real token.
 */
export function hashFeedToken(token: string): string {
  // The one-shot form: no Hash object per call (a polled feed hashes its token on every request).
  return hash('sha256', token, 'hex');
}

/** Mints a new token: 32 random bytes as base64url (43 characters, URL-safe, no padding). */
export function mintFeedToken(): MintedFeedToken {
  const token = randomBytes(FEED_TOKEN_BYTES).toString('base64url');
  return { token, hash: hashFeedToken(token), hint: token.slice(0, TOKEN_HINT_LENGTH) };
}

/** The subscription URL of a token: `${PUBLIC_BASE_URL}/ical/<token>.ics`. */
export function feedUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/$/, '')}/ical/${token}.ics`;
}
