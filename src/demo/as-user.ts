import { CSRF_HEADER, SESSION_COOKIE } from '../auth/sessions.ts';
import type { DemoContext } from './context.ts';

/**
 * The demo acting as one of the sample users against the running service, over real HTTP: a session
 * created the way a sign-in creates one (cookie + CSRF token), ended again when the step is done.
 * The steps use the public API like a browser would, so what they show is what a person would get.
 */

/** The first sample firm's people the demo acts as (they are also sandbox accounts). */
export const SAMPLE_ADMIN_EMAIL = 'alice@hartmann-law.example';
export const SAMPLE_MEMBER_EMAIL = 'bob@hartmann-law.example';

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

export interface ActingUser {
  id: string;
  email: string;
  name: string | null;
  role: 'member' | 'admin';
  organizationId: string;
  /** A request to the running service as this user; non-2xx answers throw with the error code. */
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>>;
  /** Ends the session. */
  end(): Promise<void>;
}

export class DemoApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DemoApiError';
  }
}

/** Signs `email` of `organizationId` in (programmatically) and returns a client for the running service. */
export async function actAs(ctx: DemoContext, params: { organizationId: string; email: string }): Promise<ActingUser> {
  const { db, sessions } = ctx.services!;
  const user = await db
    .selectFrom('users')
    .select(['id', 'email', 'name', 'role'])
    .where('organization_id', '=', params.organizationId)
    .where('email', '=', params.email)
    .executeTakeFirst();
  if (!user) throw new Error(`the sample user ${params.email} is missing from organization ${params.organizationId}`);
  const { id: sessionId, session } = await sessions.create({
    userId: user.id,
    organizationId: params.organizationId,
    role: user.role,
    method: 'demo',
  });
  const base = ctx.running!.url;
  const headers = { cookie: `${SESSION_COOKIE}=${sessionId}`, [CSRF_HEADER]: session.csrfToken, accept: 'application/json' };
  return {
    ...user,
    organizationId: params.organizationId,
    async call<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
      });
      const text = await res.text();
      const parsed = text ? (JSON.parse(text) as unknown) : null;
      if (res.status >= 300) {
        const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
        throw new DemoApiError(res.status, error?.code ?? 'http_error', `${method} ${path} answered ${res.status}: ${error?.message ?? text.slice(0, 200)}`);
      }
      return { status: res.status, body: parsed as T };
    },
    end: () => sessions.destroy(sessionId),
  };
}

/** Polls `check` every `intervalMs` until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs?: number }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${Math.round(options.timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
