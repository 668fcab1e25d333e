import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/auth/sessions.ts';
import { type DemoContext, type DemoStep, demoSteps, runDemo } from '../../src/demo/main.ts';
import { freePort } from '../../src/demo/private-redis.ts';
import { countKeysUnder, removeKeysUnder } from '../../src/demo/redis-keys.ts';
import { formFields } from '../auth/helpers.ts';

/**
 * `npm run demo` with DEMO_EXIT_AFTER_SETUP semantics, in process: a private redis-server when none
 * answers at REDIS_URL, the provider sandbox, the sample seeded into an on-disk PGlite, sign-in
 * configured, alice's sandbox Google account connected and synced, an iCal feed for bob, the
 * service answering, everything stopped afterwards; a second run adds nothing and keeps one
 * connection and one feed.
 */

interface Probe {
  health: number;
  cases: number;
  /** Who `/v1/me` says is signed in after following the printed Google start URL (sandbox login_hint). */
  googleUser: string | null;
  /** Same through the printed OneLogin start URL (sandbox `?user=`). */
  samlUser: string | null;
  /** alice's Google Calendar connections by status. */
  connections: Record<string, number>;
  /** Items the live connection has in sync_state. */
  syncedItems: number;
  /** Writes to the sandbox's Google that the ledger holds. */
  ledgerWrites: number;
  /** Status of the printed iCal feed URL, and how many events it holds. */
  feed: { status: number; events: number };
  /** bob's live feeds. */
  bobFeeds: number;
  /** Status of the previous run's feed URL (its token) on this run's service, if there was one. */
  previousFeed: number | null;
  sandboxUrl: string;
}

const ALICE = 'alice@hartmann-law.example';
const BOB = 'bob@hartmann-law.example';

/** A tiny cookie jar over fetch: follows nothing, keeps `name=value` of every Set-Cookie. */
class Jar {
  private cookies = new Map<string, string>();
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, ...value] = pair!.split('=');
      this.cookies.set(name!.trim(), value.join('='));
    }
    return res;
  }
  has(name: string): boolean {
    return Boolean(this.cookies.get(name));
  }
}

const lineWith = (ctx: DemoContext, heading: string, text: string) =>
  ctx.summary.find((s) => s.heading.startsWith(heading))?.lines.find((l) => l.includes(text)) ?? '';
const urlIn = (line: string) => /(https?:\/\/\S+)/.exec(line)?.[1] ?? '';

/** Follows a printed sign-in start URL through the sandbox; returns the e-mail `/v1/me` reports. */
async function signInThrough(ctx: DemoContext, startUrl: string, kind: 'google' | 'saml', email: string): Promise<string | null> {
  const jar = new Jar();
  const start = await jar.fetch(kind === 'google' ? `${startUrl}&login_hint=${encodeURIComponent(email)}` : startUrl);
  expect(start.status).toBe(302);
  const idp = new URL(start.headers.get('location')!);
  expect(idp.origin).toBe(ctx.sandbox!.url);
  let done: Response;
  if (kind === 'google') {
    const back = await fetch(idp, { redirect: 'manual' });
    done = await jar.fetch(back.headers.get('location')!);
  } else {
    idp.searchParams.set('user', email);
    const html = await (await fetch(idp)).text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&');
    done = await jar.fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(formFields(html)).toString(),
    });
  }
  expect(done.status, await done.clone().text()).toBe(303);
  if (!jar.has(SESSION_COOKIE)) return null;
  const me = (await (await jar.fetch(`${ctx.config!.PUBLIC_BASE_URL}/v1/me`)).json()) as { user?: { email: string } };
  return me.user?.email ?? null;
}

describe('demo', () => {
  let dir: string;
  let deadRedisPort: number;
  const probes: Probe[] = [];
  let lastFeedUrl = '';

  /** Runs while the demo is up: the service answers, the printed URLs and API key work. */
  const probe: DemoStep = {
    name: 'probe',
    async run(ctx: DemoContext) {
      const health = (await fetch(`${ctx.running!.url}/healthz`)).status;
      const key = ctx.seed!.organizations[0]!.apiKey;
      const res = await fetch(`${ctx.running!.url}/v1/ingest/cases/hk-case-001`, { headers: { authorization: `Bearer ${key}` } });
      const body = (await res.json()) as { number?: string };

      const googleUser = await signInThrough(ctx, urlIn(lineWith(ctx, 'Sign in', 'Google (start)')), 'google', ALICE);
      const samlUser = await signInThrough(ctx, urlIn(lineWith(ctx, 'Sign in', 'OneLogin SAML (start)')), 'saml', BOB);

      const { db } = ctx.services!;
      const rows = await db
        .selectFrom('connections as c')
        .innerJoin('users as u', 'u.id', 'c.user_id')
        .select(['c.id', 'c.status'])
        .where('u.email', '=', ALICE)
        .where('c.platform', '=', 'google_calendar')
        .execute();
      const connections: Record<string, number> = {};
      for (const r of rows) connections[r.status] = (connections[r.status] ?? 0) + 1;
      const active = rows.find((r) => r.status === 'active');
      const synced = active
        ? await db
            .selectFrom('sync_state')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('connection_id', '=', active.id)
            .executeTakeFirstOrThrow()
        : { n: 0 };
      const ledger = (await (await fetch(`${ctx.sandbox!.url}/_sandbox/ledger?provider=google&writes=true`)).json()) as { entries: unknown[] };

      const feedUrl = urlIn(lineWith(ctx, 'iCal feed', 'URL (secret'));
      const feedRes = await fetch(feedUrl);
      const feedText = await feedRes.text();
      const bobFeeds = await db
        .selectFrom('ical_feeds as f')
        .innerJoin('connections as c', 'c.id', 'f.connection_id')
        .innerJoin('users as u', 'u.id', 'c.user_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('u.email', '=', BOB)
        .where('f.revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      const previousFeed = lastFeedUrl ? (await fetch(`${ctx.running!.url}${new URL(lastFeedUrl).pathname}`)).status : null;
      lastFeedUrl = feedUrl;
      probes.push({
        health,
        cases: body.number ? 1 : 0,
        googleUser,
        samlUser,
        connections,
        syncedItems: Number(synced.n),
        ledgerWrites: ledger.entries.length,
        feed: { status: feedRes.status, events: feedText.split('BEGIN:VEVENT').length - 1 },
        bobFeeds: Number(bobFeeds.n),
        previousFeed,
        sandboxUrl: ctx.sandbox!.url,
      });
    },
  };
  const run = () =>
    runDemo({
      steps: [...demoSteps, probe],
      env: {
        DATA_DIR: dir,
        DATABASE_URL: undefined,
        REDIS_URL: `redis://127.0.0.1:${deadRedisPort}`,
        PORT: '0',
        SANDBOX_PORT: '0',
        SANDBOX_URL: undefined,
        PUBLIC_BASE_URL: undefined,
        GOOGLE_CLIENT_ID: undefined,
        // Google's 600 requests/min per user would only make the test wait.
        GOOGLE_USER_RATE_PER_MINUTE: '60000',
        LOG_LEVEL: 'silent',
      },
      exitAfterSetup: true,
      output: () => {},
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-demo-'));
    deadRedisPort = await freePort();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("starts Redis and the sandbox, seeds, configures sign-in, syncs alice's calendar, makes bob a feed, and stops everything", async () => {
    const ctx = await run();
    const redisLine = ctx.summary.find((s) => s.heading === 'Redis')!.lines[0]!;
    expect(redisLine).toContain('private redis-server');
    const pid = Number(/pid (\d+)/.exec(redisLine)![1]);
    expect(() => process.kill(pid, 0)).toThrow(); // stopped with the demo
    expect(ctx.running!.server.listening).toBe(false);
    await expect(fetch(`${ctx.sandbox!.url}/_sandbox/accounts`)).rejects.toThrow(); // sandbox stopped too

    const [hartmann, brennan] = ctx.seed!.organizations;
    expect(hartmann!.name).toBe('Hartmann & Keller Personal Injury');
    const total = (type: 'case' | 'document' | 'contact') => hartmann!.records[type].created + brennan!.records[type].created;
    expect([total('case'), total('document'), total('contact')]).toEqual([20, 40, 100]);
    expect(hartmann!.users.created + brennan!.users.created).toBe(12);
    expect(fs.existsSync(path.join(dir, 'pglite'))).toBe(true);

    // The app and the sandbox on the same host (the SAML pre-login cookie needs the same site).
    const base = ctx.config!.PUBLIC_BASE_URL;
    expect(new URL(base).hostname).toBe(new URL(ctx.sandbox!.url).hostname);
    // A sign-in URL for each authenticator, and the accounts to pick.
    expect(lineWith(ctx, 'Sign in', 'sign-in page')).toContain(`${base}/login`);
    expect(lineWith(ctx, 'Sign in', 'firm')).toContain(`${base}/login?org=${hartmann!.id}`);
    expect(lineWith(ctx, 'Sign in', 'Google (start)')).toContain(`${base}/auth/google/start`);
    expect(lineWith(ctx, 'Sign in', 'OneLogin SAML (start)')).toContain(`${base}/auth/saml/${hartmann!.id}/login`);
    expect(lineWith(ctx, 'Sign in', 'accounts to pick')).toContain(ALICE);
    // The page addresses, and nobody signed in: the first page leads to the sign-in page.
    expect(lineWith(ctx, 'Pages', 'connected apps')).toContain(`${base}/apps`);
    expect(lineWith(ctx, 'Pages', 'admin console')).toContain(`${base}/admin`);
    expect(lineWith(ctx, 'Pages', 'sign in first')).toContain('nobody is signed in automatically');

    const p = probes[0]!;
    expect(p).toMatchObject({ health: 200, cases: 1, googleUser: ALICE, samlUser: BOB, connections: { active: 1 } });
    // The summary's count is what the sandbox calendar holds: every synced item, one write each plus the calendar.
    const printed = Number(/(\d+) events in the calendar/.exec(lineWith(ctx, 'Google Calendar', 'events in the calendar'))?.[1]);
    expect(printed).toBeGreaterThan(0);
    expect(printed).toBe(p.syncedItems);
    expect(p.ledgerWrites).toBe(printed + 1);
    // Every write in the sandbox ledger has its `sent` row in the transfer log.
    expect(lineWith(ctx, 'Google Calendar', 'transfer log')).toContain(`${p.ledgerWrites} sent`);
    expect(p.feed.status).toBe(200);
    expect(p.feed.events).toBeGreaterThan(0);
    expect(p.bobFeeds).toBe(1);
    // Outlook contacts: alice's sandbox address book imported, one invitation caught by the demo's mail capture.
    expect(lineWith(ctx, 'Outlook contacts', 'imported')).toMatch(/imported 301 contacts in [\d.]+ s with \d+ Graph requests/);
    expect(lineWith(ctx, 'Outlook contacts', 'invited')).toMatch(/invited \S+@contacts\.example \(smtp\): Alice \S+ invites you to join Hartmann/);
    expect(lineWith(ctx, 'Outlook contacts', 'mail capture')).toMatch(/accept link http:\/\/[^/\s]+\/invitations\/cbi_/);
    // iManage: the firm's documents filed into their matter workspaces, two per case, ids printed.
    const filed = /: (\d+) documents into (\d+) matter workspaces/.exec(lineWith(ctx, 'iManage Work (sandbox)', 'filed in'));
    expect(Number(filed?.[2])).toBeGreaterThan(0);
    expect(Number(filed?.[1])).toBe(2 * Number(filed?.[2]));
    expect(lineWith(ctx, 'iManage Work (sandbox)', '→ workspace')).toMatch(/workspace ACTIVE!\d+, folder ACTIVE!\d+: 2 document\(s\) ACTIVE!\d+\.1/);
    expect(lineWith(ctx, 'iManage Work (sandbox)', 'ledger')).toContain('/_sandbox/ledger?provider=imanage');
  }, 240_000);

  it('adds nothing when run again on the same data: one live connection, one feed (rotated)', async () => {
    const ctx = await run();
    for (const org of ctx.seed!.organizations) {
      expect(org.users.created).toBe(0);
      for (const counts of Object.values(org.records)) {
        expect(counts.created).toBe(0);
        expect(counts.updated).toBe(0);
      }
    }
    const p = probes[1]!;
    expect(p).toMatchObject({ health: 200, cases: 1, googleUser: ALICE, samlUser: BOB });
    // The first run's sandbox is gone with its tokens: that connection was disconnected and replaced.
    expect(p.connections).toEqual({ active: 1, revoked: 1 });
    expect(lineWith(ctx, 'Google Calendar', 'connection')).toContain('1 earlier connection(s) that no longer work disconnected');
    expect(p.syncedItems).toBe(probes[0]!.syncedItems);
    // The policy was already right; the IdP is rewritten only because SANDBOX_PORT=0 moved the sandbox.
    expect(lineWith(ctx, 'Sign in', 'policy:')).not.toMatch(/configured:.*sign-in policy/);
    expect(fs.existsSync(path.join(dir, 'sandbox', 'onelogin-idp.json'))).toBe(true);

    // bob's feed was rotated, not duplicated: the previous URL is dead, the new one serves the same events.
    expect(lineWith(ctx, 'iCal feed', 'rotated')).not.toBe('');
    expect(p).toMatchObject({ bobFeeds: 1, previousFeed: 404, feed: { status: 200, events: probes[0]!.feed.events } });
    // Outlook: the first run's connection replaced; another address invited (the first was invited days ago, as far as the limits go).
    expect(lineWith(ctx, 'Outlook contacts', 'connection')).toContain('1 earlier connection(s) disconnected');
    expect(lineWith(ctx, 'Outlook contacts', 'invited')).toMatch(/invited \S+@contacts\.example \(smtp\)/);
  }, 240_000);
});

/**
 * `npm run demo` as a person runs it: a child process on the shared Redis, its output read line by
 * line, the printed feed command run in a shell, then Ctrl-C (SIGINT).
 */
describe('demo in a terminal', () => {
  const root = new URL('../..', import.meta.url).pathname;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-demo-tty-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints words rather than log JSON, shows whole feed titles, and leaves no key in the shared Redis after Ctrl-C', async () => {
    const prefix = `demo-test-${randomUUID().slice(0, 8)}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        DATA_DIR: dir,
        PORT: '0',
        SANDBOX_PORT: '0',
        GOOGLE_USER_RATE_PER_MINUTE: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 200_000;
      while (!stdout.includes('Press Ctrl-C to stop.')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the demo did not come up:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const lines = stdout.split('\n').filter((l) => l.trim());
      // The first line says what is happening; no line is a raw log record.
      expect(lines[0]).toMatch(/^Casebridge demo: starting/);
      for (const line of lines) expect(() => JSON.parse(line), line).toThrow();
      expect(stdout).toContain('warning: using development defaults');
      expect(stdout.indexOf('Casebridge demo: starting')).toBeLessThan(stdout.indexOf('Google Calendar: '));

      // The printed feed command shows whole titles: the feed folds long lines, the command unfolds them.
      const command = /try {3}(curl -s "[^"]+\.ics" .*)$/m.exec(stdout)?.[1];
      expect(command).toBeDefined();
      const feedUrl = /"(http[^"]+\.ics)"/.exec(command!)![1]!;
      const raw = await (await fetch(feedUrl)).text();
      expect(raw).toMatch(/\r\n[ \t]/); // there are folded lines to unfold
      const unfolded = raw.replace(/\r\n[ \t]/g, '').split('\r\n');
      const shown = execFileSync('sh', ['-c', command!], { encoding: 'utf8' }).trim().split('\n');
      const summaries = shown.filter((l) => l.startsWith('SUMMARY'));
      expect(summaries.length).toBeGreaterThan(0);
      for (const line of shown) expect(unfolded).toContain(line);
      expect(Math.max(...summaries.map((l) => Buffer.byteLength(l)))).toBeGreaterThan(75);

      expect(await countKeysUnder(redisUrl, prefix)).toBeGreaterThan(0);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout).toContain('stopping…');
      expect(await countKeysUnder(redisUrl, prefix)).toBe(0);
    } finally {
      // A failed run must not leave its keys behind in the shared Redis either.
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await removeKeysUnder(redisUrl, prefix);
    }
  }, 300_000);
});
