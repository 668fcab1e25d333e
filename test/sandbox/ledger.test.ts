import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { emulators } from '../../sandbox/emulators.ts';
import { SANDBOX_GOOGLE_CLIENT } from '../../sandbox/google/oauth.ts';
import { type Sandbox, startSandbox } from '../../sandbox/server.ts';

interface Entry {
  seq: number;
  provider: string;
  path: string;
  write: boolean;
}

const ledger = async (sandbox: Sandbox, query: string): Promise<{ status: number; body: { entries?: Entry[]; error?: string } }> => {
  const res = await fetch(`${sandbox.url}/_sandbox/ledger?${query}`);
  return { status: res.status, body: (await res.json()) as { entries?: Entry[]; error?: string } };
};

describe('sandbox: the request ledger', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await startSandbox(emulators, { port: 0 });
  });
  afterAll(async () => sandbox.close());
  beforeEach(async () => {
    await fetch(`${sandbox.url}/_sandbox/reset`, { method: 'POST' });
  });

  it('with after=<seq> answers only the entries recorded since, with the same filters, so a poller reads what is new', async () => {
    // Three requests the Google emulator records: authorization steps.
    for (let i = 0; i < 3; i++) {
      const url = new URL(`${sandbox.url}/google/o/oauth2/v2/auth`);
      const params = { client_id: SANDBOX_GOOGLE_CLIENT.clientId, redirect_uri: 'http://127.0.0.1:9/callback', response_type: 'code', scope: 'openid email' };
      for (const [k, v] of Object.entries({ ...params, login_hint: 'alice@hartmann-law.example', state: `s${i}` })) url.searchParams.set(k, v);
      expect((await fetch(url, { redirect: 'manual' })).status).toBe(302);
    }
    const all = (await ledger(sandbox, 'provider=google')).body.entries!;
    expect(all.length).toBeGreaterThanOrEqual(3);
    const seqs = all.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    const second = seqs[1]!;
    const since = (await ledger(sandbox, `provider=google&after=${second}`)).body.entries!;
    expect(since.map((e) => e.seq)).toEqual(seqs.filter((s) => s > second));
    expect((await ledger(sandbox, `provider=google&after=${seqs.at(-1)}`)).body.entries).toEqual([]);
    expect((await ledger(sandbox, 'provider=google&after=0')).body.entries).toEqual(all);
    // Filters still apply: token requests are not writes.
    expect((await ledger(sandbox, `provider=google&writes=true&after=${seqs[0]}`)).body.entries).toEqual([]);
  });

  it('refuses an after that is not a non-negative integer with a 400 that says what it must be', async () => {
    for (const bad of ['-1', 'abc', '1e400', '', '1.5', '0x10']) {
      const { status, body } = await ledger(sandbox, `after=${encodeURIComponent(bad)}`);
      expect(status, bad).toBe(400);
      expect(body.error).toMatch(/after must be a non-negative integer/);
    }
  });
});
