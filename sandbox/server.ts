import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { z } from 'zod';
import { type SandboxAccount, SandboxState } from './state.ts';

/** What every provider emulator gets: the shared state and the sandbox's public origin. */
export interface SandboxContext {
  state: SandboxState;
  /** e.g. http://127.0.0.1:4010 (known once listening). */
  origin(): string;
  options: SandboxOptions;
}

/** A provider emulator mounts its routes on the sandbox app. */
export type ProviderEmulator = (app: Hono, ctx: SandboxContext) => void;

export interface SandboxOptions {
  port?: number;
  host?: string;
  accounts?: SandboxAccount[];
  /** Access token lifetime in seconds (tests shorten it to exercise refresh). */
  accessTokenTtlSeconds?: number;
  /** Extra emulator options keyed by provider (signing keys, client registrations...). */
  providers?: Record<string, unknown>;
}

export const DEFAULT_ACCOUNTS: SandboxAccount[] = [
  { email: 'alice@hartmann-law.example', name: 'Alice Hartmann', sub: '100000000000000000001', hd: 'hartmann-law.example', emailVerified: true },
  { email: 'bob@hartmann-law.example', name: 'Bob Keller', sub: '100000000000000000002', hd: 'hartmann-law.example', emailVerified: true },
  { email: 'carol@gmail.example', name: 'Carol Personal', sub: '100000000000000000003', emailVerified: true },
];

const faultSchema = z.object({
  provider: z.enum(['google', 'microsoft', 'imanage', 'onelogin']).optional(),
  account: z.string().optional(),
  method: z.string().optional(),
  path: z.string().optional(),
  kind: z.enum(['status', 'delay', 'invalid_grant', 'expire_tokens', 'revoke_tokens', 'quota', 'timeout']),
  status: z.number().int().min(400).max(599).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
  reason: z.string().optional(),
  delayMs: z.number().int().min(0).max(120_000).optional(),
  limit: z.number().int().positive().optional(),
  windowSeconds: z.number().int().positive().optional(),
  times: z.number().int().positive().optional(),
});

export interface Sandbox {
  app: Hono;
  state: SandboxState;
  url: string;
  close(): Promise<void>;
}

/**
 * Builds the sandbox app with the control routes (`/_sandbox/...`) and every emulator given.
 * Emulators are passed in (see `sandbox/emulators.ts`) so this file knows none of them.
 */
export function buildSandboxApp(emulators: ProviderEmulator[], options: SandboxOptions, originRef: { value: string }) {
  const state = new SandboxState(options.accessTokenTtlSeconds);
  const accounts = options.accounts ?? DEFAULT_ACCOUNTS;
  for (const a of accounts) state.accounts.set(a.email.toLowerCase(), a);
  const app = new Hono();
  const ctx: SandboxContext = { state, origin: () => originRef.value, options };

  app.get('/_sandbox/ledger', (c) => {
    const provider = c.req.query('provider');
    const writesOnly = c.req.query('writes') === 'true';
    // `after=<seq>`: only the entries recorded since (a poller reads what is new, not the whole ledger again).
    const after = c.req.query('after');
    if (after !== undefined && !/^\d{1,15}$/.test(after)) return c.json({ error: 'after must be a non-negative integer (a ledger seq)' }, 400);
    const entries = state.ledgerAfter(Number(after ?? 0)).filter((e) => (!provider || e.provider === provider) && (!writesOnly || e.write));
    return c.json({ entries });
  });
  app.get('/_sandbox/accounts', (c) => c.json({ accounts: [...state.accounts.values()] }));
  app.post('/_sandbox/accounts', async (c) => {
    const body = (await c.req.json()) as SandboxAccount;
    if (!body?.email || !body.sub || !body.name) return c.json({ error: 'email, sub and name are required' }, 400);
    state.accounts.set(body.email.toLowerCase(), body);
    return c.json({ account: body }, 201);
  });
  app.post('/_sandbox/faults', async (c) => {
    const parsed = faultSchema.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) return c.json({ error: 'invalid fault', issues: parsed.error.issues }, 400);
    return c.json({ fault: state.addFault(parsed.data) }, 201);
  });
  app.get('/_sandbox/faults', (c) => c.json({ faults: state.faults }));
  app.delete('/_sandbox/faults', (c) => {
    state.faults = [];
    state.quotaWindows.clear();
    return c.body(null, 204);
  });
  app.post('/_sandbox/reset', (c) => {
    state.reset();
    return c.body(null, 204);
  });

  for (const mount of emulators) mount(app, ctx);
  app.notFound((c) => c.json({ error: { code: 404, message: `sandbox: no emulator route for ${c.req.method} ${c.req.path}` } }, 404));
  return { app, state, ctx };
}

/** Starts the sandbox on `options.port` (0 = a free port) and resolves once it listens. */
export async function startSandbox(emulators: ProviderEmulator[], options: SandboxOptions = {}): Promise<Sandbox> {
  const originRef = { value: '' };
  const { app, state } = buildSandboxApp(emulators, options, originRef);
  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 0, hostname: host }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  originRef.value = `http://${host}:${port}`;
  return {
    app,
    state,
    url: originRef.value,
    close: () =>
      new Promise<void>((resolve) => {
        // Idle keep-alive sockets would hold close() open.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
