import { randomBytes } from 'node:crypto';

/**
 * Shared state of the sandbox emulators: configured accounts, issued tokens, the request ledger (the
 * ground truth tests compare the transfer log against) and injected faults.
 */

export type ProviderId = 'google' | 'microsoft' | 'imanage' | 'onelogin' | 'smtp';

export interface SandboxAccount {
  email: string;
  name: string;
  /** Stable subject id (Google `sub`, SAML NameID defaults to the e-mail). */
  sub: string;
  /** Google Workspace domain, when the account belongs to one. */
  hd?: string;
  emailVerified?: boolean;
  picture?: string;
  /** Extra SAML attributes (OneLogin shape: FirstName, LastName, Email, memberOf...). */
  attributes?: Record<string, string | string[]>;
}

export interface LedgerEntry {
  seq: number;
  /** ISO time with milliseconds, when the emulator accepted the request. */
  at: string;
  /** Epoch milliseconds of `at`, for comparisons. */
  atMs: number;
  provider: ProviderId;
  account: string | null;
  method: string;
  path: string;
  status: number;
  /** True when the request changed provider state (insert, patch, delete, upload...). */
  write: boolean;
  /** For writes: the resulting object (or its id for deletes). */
  object?: unknown;
}

export interface FaultSpec {
  provider?: ProviderId;
  account?: string;
  method?: string;
  /** Regular expression matched against the request path (without query). */
  path?: string;
  kind: 'status' | 'delay' | 'invalid_grant' | 'expire_tokens' | 'revoke_tokens' | 'quota' | 'timeout';
  /** For `status`: the HTTP status to answer (429, 500, 503...). */
  status?: number;
  /** For `status` 429/403 and `quota`: Retry-After seconds to send. */
  retryAfterSeconds?: number;
  /** For `status` 403/429 on Google: the error reason (`rateLimitExceeded`, `userRateLimitExceeded`). */
  reason?: string;
  /** For `delay`: added latency. For `timeout`: how long to hang before closing. */
  delayMs?: number;
  /** For `quota`: requests allowed per window per account. */
  limit?: number;
  windowSeconds?: number;
  /** How many matching requests the fault applies to (default: unlimited). */
  times?: number;
}

export interface Fault extends FaultSpec {
  id: string;
  hits: number;
  /** Epoch milliseconds of the last request the fault applied to. */
  lastHitAtMs?: number;
}

export interface IssuedToken {
  provider: ProviderId;
  account: string;
  clientId: string;
  scope: string;
  expiresAt: number;
  kind: 'access' | 'refresh';
  /** For access tokens: the refresh token that minted them (revoking one revokes the family). */
  family: string;
  revoked: boolean;
}

export class SandboxState {
  accounts = new Map<string, SandboxAccount>();
  tokens = new Map<string, IssuedToken>();
  ledger: LedgerEntry[] = [];
  faults: Fault[] = [];
  /** Per-account sliding windows for `quota` faults: key -> request times. */
  quotaWindows = new Map<string, number[]>();
  /** Provider-specific state (calendars, events, contacts...) keyed by provider. */
  stores = new Map<string, unknown>();
  private seq = 0;

  constructor(readonly accessTokenTtlSeconds = 3600) {}

  /** Per-provider store, created on first use and dropped on reset. */
  store<T>(name: string, create: () => T): T {
    let s = this.stores.get(name) as T | undefined;
    if (s === undefined) {
      s = create();
      this.stores.set(name, s);
    }
    return s;
  }

  record(entry: Omit<LedgerEntry, 'seq' | 'at' | 'atMs'>): LedgerEntry {
    const now = Date.now();
    const full: LedgerEntry = { seq: ++this.seq, at: new Date(now).toISOString(), atMs: now, ...entry };
    this.ledger.push(full);
    return full;
  }

  /** The entries recorded after `seq` (the ledger is in seq order: a binary search, not a scan). */
  ledgerAfter(seq: number): LedgerEntry[] {
    if (seq <= 0) return this.ledger;
    let lo = 0;
    let hi = this.ledger.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ledger[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return this.ledger.slice(lo);
  }

  issueToken(t: Omit<IssuedToken, 'revoked' | 'expiresAt'> & { ttlSeconds?: number }): string {
    const token = `sbx_${t.kind === 'access' ? 'at' : 'rt'}_${randomBytes(24).toString('base64url')}`;
    const ttl = t.ttlSeconds ?? (t.kind === 'access' ? this.accessTokenTtlSeconds : 180 * 24 * 3600);
    this.tokens.set(token, {
      provider: t.provider,
      account: t.account,
      clientId: t.clientId,
      scope: t.scope,
      kind: t.kind,
      family: t.family,
      expiresAt: Date.now() + ttl * 1000,
      revoked: false,
    });
    return token;
  }

  /** Resolves a bearer token to its live record, or a reason it is not usable. */
  checkAccessToken(token: string | undefined, provider: ProviderId): IssuedToken | 'missing' | 'invalid' | 'expired' | 'revoked' {
    if (!token) return 'missing';
    const t = this.tokens.get(token);
    if (!t || t.provider !== provider || t.kind !== 'access') return 'invalid';
    if (t.revoked) return 'revoked';
    if (Date.now() >= t.expiresAt) return 'expired';
    return t;
  }

  /** Revokes a token and every token of its family (Google: revoking either revokes both). */
  revokeFamily(token: string): boolean {
    const t = this.tokens.get(token);
    if (!t) return false;
    for (const other of this.tokens.values()) if (other.family === t.family) other.revoked = true;
    return true;
  }

  addFault(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: randomBytes(6).toString('hex'), hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  /**
   * Faults of the given kinds that apply to this request, consuming one of `times` for each. Only
   * the kinds asked for are consumed, so the request check and a token check on the same request
   * do not use up each other's faults.
   */
  matchFaults(
    req: { provider: ProviderId; account: string | null; method: string; path: string },
    kinds: ReadonlyArray<FaultSpec['kind']>,
    options: { first?: boolean } = {},
  ): Fault[] {
    const hits: Fault[] = [];
    for (const f of this.faults) {
      if (!kinds.includes(f.kind)) continue;
      if (f.provider && f.provider !== req.provider) continue;
      if (f.account && f.account !== req.account) continue;
      if (f.method && f.method.toUpperCase() !== req.method.toUpperCase()) continue;
      if (f.path && !new RegExp(f.path).test(req.path)) continue;
      if (f.times !== undefined && f.hits >= f.times) continue;
      f.hits += 1;
      f.lastHitAtMs = Date.now();
      hits.push(f);
      if (options.first) break;
    }
    return hits;
  }

  /** Sliding-window check for a quota fault; true when the request is over quota. */
  overQuota(fault: Fault, account: string | null): { over: boolean; retryAfterSeconds: number } {
    const limit = fault.limit ?? 600;
    const windowMs = (fault.windowSeconds ?? 60) * 1000;
    const key = `${fault.id}:${account ?? '-'}`;
    const now = Date.now();
    const times = (this.quotaWindows.get(key) ?? []).filter((t) => now - t < windowMs);
    if (times.length >= limit) {
      this.quotaWindows.set(key, times);
      const retryAfterMs = windowMs - (now - times[0]!);
      return { over: true, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
    }
    times.push(now);
    this.quotaWindows.set(key, times);
    return { over: false, retryAfterSeconds: 0 };
  }

  reset(): void {
    this.tokens.clear();
    this.ledger = [];
    this.faults = [];
    this.quotaWindows.clear();
    this.stores.clear();
    this.seq = 0;
  }
}
