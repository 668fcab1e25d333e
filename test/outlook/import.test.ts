import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactSelect } from '../../connectors/outlook-contacts/delta.ts';
import { microsoftStore } from '../../sandbox/microsoft/store.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { loadCursor } from '../../src/sync/pull.ts';
import { signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { waitImportIdle as importIdle } from './support/queues.ts';

/**
 * Outlook contacts end to end against the Microsoft emulator over real HTTP: connect through the
 * identity platform (PKCE, rotating refresh tokens), import through the import worker and the pull
 * engine (delta per folder, paging, @removed, 410 resync), minimisation ($select and storage), the
 * transfer log, re-authorization and revocation.
 */

const ACCOUNT = 'alice@hartmann-law.example';
const ATTESTATION = 'I have the legal right to import these contacts';
const SELECT = ['displayName', 'givenName', 'surname', 'emailAddresses', 'companyName', 'jobTitle', 'businessPhones', 'mobilePhone'];

let env: SyncEnv;
let connectionId: string;

const count = async (table: 'imported_contacts' | 'imported_contact_sources') =>
  Number(
    (
      await env.t.services.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .where('connection_id', '=', connectionId)
        .executeTakeFirstOrThrow()
    ).n,
  );

const waitImportIdle = (timeoutMs?: number) => importIdle(env.t.services, timeoutMs);

async function importNow(): Promise<void> {
  await env.t.services.queues.enqueueImport(connectionId, 'manual');
  await waitImportIdle();
}

const graphReads = (from = 0) => env.sandbox.state.ledger.filter((e) => e.provider === 'microsoft' && e.seq > from && e.path.includes('/graph/'));
const mailbox = () => microsoftStore(env.sandbox.state).mailboxes.get(ACCOUNT)!;

beforeAll(async () => {
  env = await createSyncEnv({ env: { REVOCATION_RETRY_BASE_MS: '50' } });
  await env.startWorkers();
}, 120_000);
afterAll(async () => env?.close());

describe('Outlook contacts', () => {
  it('refuses contacts.import without the attestation text, and writes nothing', async () => {
    const before = await env.t.services.db.selectFrom('connections').select('id').execute();
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...env.member, 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'outlook_contacts', categories: ['contacts.import'], caseScope: { kind: 'all' }, loginHint: ACCOUNT }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('attestation_required');
    expect(await env.t.services.db.selectFrom('connections').select('id').execute()).toHaveLength(before.length);
  });

  it('connects through the identity platform with PKCE and imports every folder, one contact per person', async () => {
    connectionId = await env.connect({
      platform: 'outlook_contacts',
      categories: ['contacts.import'],
      attestations: { 'contacts.import': ATTESTATION },
      loginHint: ACCOUNT,
    });
    const view = await env.connection(connectionId);
    expect(view.status).toBe('active');
    expect(view.account).toBe(ACCOUNT);
    // The attestation is recorded with the consent.
    const consent = await env.t.services.db.selectFrom('consents').select('attestations').where('connection_id', '=', connectionId).executeTakeFirstOrThrow();
    expect(consent.attestations).toEqual({ 'contacts.import': ATTESTATION });
    // Connecting queued the first import; the import worker runs it.
    await waitImportIdle();
    // 3 folders x 100 contacts, plus one person in two folders: 302 items, 301 people.
    expect(await count('imported_contact_sources')).toBe(302);
    expect(await count('imported_contacts')).toBe(301);
    const dana = await env.t.services.db
      .selectFrom('imported_contacts')
      .selectAll()
      .where('connection_id', '=', connectionId)
      .where('person_key', '=', 'email:dana.twice@contacts.example')
      .execute();
    expect(dana).toHaveLength(1);
    const deltas = graphReads().filter((e) => e.path.endsWith('/contacts/delta'));
    // One import (connect's), one page per folder (about 100 contacts each, pages of up to 200).
    // Paging itself: the 3,000-contact mailbox below and the emulator's tests.
    expect(deltas).toHaveLength(3);
    expect((await loadCursor(env.t.services.db, connectionId))?.kind).toBe('delta');
  });

  it('asks Graph only for the consented fields and stores nothing else', async () => {
    expect(contactSelect(['contacts.import'])).toEqual(SELECT);
    const initial = graphReads().filter((e) => (e.object as { initial?: boolean } | undefined)?.initial);
    expect(initial).toHaveLength(3);
    for (const e of initial) expect((e.object as { select: string[] }).select).toEqual(SELECT);
    const row = await env.t.services.db
      .selectFrom('imported_contacts')
      .selectAll()
      .where('connection_id', '=', connectionId)
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(Object.keys(row).sort()).toEqual(
      [
        'company',
        'connection_id',
        'created_at',
        'display_name',
        'emails',
        'id',
        'invited_at',
        'job_title',
        'matched_user_id',
        'organization_id',
        'person_key',
        'phones',
        'updated_at',
        'user_id',
      ].sort(),
    );
    expect(JSON.stringify(row)).not.toMatch(/Private note|Private Lane|1980-02-29|555 0199/);
  });

  it('logs a received row per Graph request, with sizes and never the contacts', async () => {
    const rows = await env.t.services.db
      .selectFrom('transfer_log')
      .selectAll()
      .where('connection_id', '=', connectionId)
      .where('outcome', '=', 'received')
      .execute();
    expect(rows.length).toBe(graphReads().length);
    for (const r of rows) expect(r.direction).toBe('inbound');
    expect(JSON.stringify(rows)).not.toMatch(/contacts\.example|Surname\d/);
  });

  it('a later run sends the stored delta links and applies exactly the changes, deletes included', async () => {
    const box = mailbox();
    const from = env.sandbox.state.ledger.at(-1)!.seq;
    const [folder] = box.folders;
    const added = await fetch(`${env.sandbox.url}/_sandbox/microsoft/mailboxes/${ACCOUNT}/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ folderId: folder!.id, givenName: 'New', surname: 'Person', email: 'new.person@contacts.example' }),
    });
    expect(added.status).toBe(201);
    const plain = [...box.contacts.values()].find((c) => c.emailAddresses[0]?.address === 'person5@contacts.example')!;
    const danaCopies = [...box.contacts.values()].filter((c) => c.emailAddresses[0]?.address === 'dana.twice@contacts.example');
    for (const id of [plain.id, danaCopies[0]!.id]) {
      expect((await fetch(`${env.sandbox.url}/_sandbox/microsoft/mailboxes/${ACCOUNT}/contacts/${id}`, { method: 'DELETE' })).status).toBe(204);
    }
    await importNow();
    // One request per folder (no new full listing), each following its delta link.
    const deltas = graphReads(from).filter((e) => e.path.endsWith('/contacts/delta'));
    expect(deltas).toHaveLength(3);
    expect(deltas.every((e) => !(e.object as { initial: boolean }).initial)).toBe(true);
    expect(await count('imported_contact_sources')).toBe(302 + 1 - 2);
    // person5 gone; Dana still there through her other folder; the new person in.
    expect(await count('imported_contacts')).toBe(301 + 1 - 1);
    const keys = (await env.t.services.db.selectFrom('imported_contacts').select('person_key').where('connection_id', '=', connectionId).execute()).map(
      (r) => r.person_key,
    );
    expect(keys).toContain('email:new.person@contacts.example');
    expect(keys).toContain('email:dana.twice@contacts.example');
    expect(keys).not.toContain('email:person5@contacts.example');
  });

  it('marks an imported contact who is already a member of the organization', async () => {
    const box = mailbox();
    await fetch(`${env.sandbox.url}/_sandbox/microsoft/mailboxes/${ACCOUNT}/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ folderId: box.folders[2]!.id, givenName: 'Col', surname: 'League', email: env.org.member.email.toUpperCase() }),
    });
    await importNow();
    const row = await env.t.services.db
      .selectFrom('imported_contacts')
      .select(['matched_user_id', 'person_key'])
      .where('connection_id', '=', connectionId)
      .where('person_key', '=', `email:${env.org.member.email.toLowerCase()}`)
      .executeTakeFirstOrThrow();
    expect(row.matched_user_id).toBe(env.org.member.id);
  });

  it('a 429 with Retry-After (mailbox concurrency) puts the import back for that long, then it completes', async () => {
    const box = mailbox();
    await fetch(`${env.sandbox.url}/_sandbox/microsoft/mailboxes/${ACCOUNT}/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ folderId: box.folders[1]!.id, givenName: 'After', surname: 'Throttle', email: 'after.throttle@contacts.example' }),
    });
    await fetch(`${env.sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        provider: 'microsoft',
        path: '/contacts/delta$',
        kind: 'status',
        status: 429,
        reason: 'MailboxConcurrency',
        retryAfterSeconds: 1,
        times: 1,
      }),
    });
    const before = await count('imported_contacts');
    const from = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    const started = Date.now();
    await importNow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await count('imported_contacts')).toBe(before + 1);
    const failed = await env.t.services.db
      .selectFrom('transfer_log')
      .select(['outcome', 'provider_status'])
      .where('connection_id', '=', connectionId)
      .where('outcome', '=', 'failed')
      .execute();
    expect(failed.some((r) => r.provider_status === 429)).toBe(true);
    expect(graphReads(from).filter((e) => e.path.endsWith('/contacts/delta')).length).toBe(3);
    await fetch(`${env.sandbox.url}/_sandbox/faults`, { method: 'DELETE' });
  });

  it('a forgotten delta token (410 syncStateNotFound) restarts from scratch without duplicating anyone', async () => {
    const box = mailbox();
    const before = await count('imported_contacts');
    // A deletion the provider will not report: only the from-scratch sweep can notice it.
    const gone = [...box.contacts.values()].find((c) => c.emailAddresses[0]?.address === 'person7@contacts.example')!;
    box.contacts.delete(gone.id);
    const from = env.sandbox.state.ledger.at(-1)!.seq;
    expect((await fetch(`${env.sandbox.url}/_sandbox/microsoft/expire-delta-tokens`, { method: 'POST' })).status).toBe(204);
    await importNow();
    expect(graphReads(from).some((e) => e.status === 410)).toBe(true);
    expect(await count('imported_contacts')).toBe(before - 1);
    // Dana lost her second copy in the previous test: one source per person now.
    expect(await count('imported_contact_sources')).toBe(before - 1);
  });

  it('stores the rotated refresh token on refresh, and a refused grant (AADSTS700082) asks the user to reconnect', async () => {
    const vault = vaultFor(env.t.services);
    const stored = (await vault.load(connectionId))!;
    await vault.save(connectionId, { ...stored, expiresAt: Date.now() - 1000 });
    await importNow();
    const rotated = (await vault.load(connectionId))!;
    expect(rotated.refreshToken).not.toBe(stored.refreshToken);
    expect(rotated.accessToken).not.toBe(stored.accessToken);
    // The old refresh token no longer works at the emulator (rotation).
    expect(env.sandbox.state.tokens.get(stored.refreshToken!)?.revoked).toBe(true);

    await vault.save(connectionId, { ...rotated, expiresAt: Date.now() - 1000 });
    await fetch(`${env.sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'microsoft', kind: 'invalid_grant', times: 1 }),
    });
    await importNow();
    const view = await env.connection(connectionId);
    expect(view.status).toBe('reauth_required');
    expect((view.actions as Array<{ action: string }>).map((a) => a.action)).toContain('reconnect');
  });

  it('connecting queues one import, and the periodic import first ticks an interval later (no second, no-change run behind the first)', async () => {
    const account = 'erin@first-tick.example';
    await fetch(`${env.sandbox.url}/_sandbox/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: account, name: 'Erin First', sub: '300000000000000000077', emailVerified: true }),
    });
    const q = env.t.services.queues.import;
    // Paused, the queue keeps what connecting put on it for us to look at.
    await q.pause();
    let erin = '';
    try {
      erin = await env.connect({
        platform: 'outlook_contacts',
        categories: ['contacts.import'],
        attestations: { 'contacts.import': ATTESTATION },
        loginHint: account,
      });
      const queued = (await q.getJobs(['waiting', 'paused', 'prioritized', 'delayed'])).filter((j) => j.data.connectionId === erin);
      expect(queued.map((j) => j.name)).toContain('import');
      const scheduler = (await q.getJobSchedulers()).find((s) => s.key === `import:${erin}`);
      expect(scheduler?.every).toBe(30 * 60_000);
      expect(Number(scheduler?.next)).toBeGreaterThan(Date.now() + 29 * 60_000);
    } finally {
      await q.resume();
    }
    await waitImportIdle();
    // One import: the folders listed once and each folder's first round (one page each), nothing after.
    const reads = env.sandbox.state.ledger.filter((e) => e.provider === 'microsoft' && e.account === account && e.path.includes('/graph/'));
    expect(reads.filter((e) => e.path.endsWith('/contactFolders'))).toHaveLength(1);
    const deltas = reads.filter((e) => e.path.endsWith('/contacts/delta'));
    expect(deltas).toHaveLength(3);
    expect(deltas.every((e) => (e.object as { initial?: boolean }).initial)).toBe(true);
  });

  it('revoked mid-import: the answer waits for the Graph call in flight, and no request follows the 202', async () => {
    const account = 'carol@gmail.example';
    const seeded = await fetch(`${env.sandbox.url}/_sandbox/microsoft/mailboxes/${account}/seed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 3000, prefix: 'carol' }),
    });
    expect(seeded.status).toBe(201);
    // Every delta page takes 300 ms at the provider: the import is still paging when the revocation comes.
    await fetch(`${env.sandbox.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'microsoft', path: '/contacts/delta$', kind: 'delay', delayMs: 300, times: 200 }),
    });
    try {
      const carol = await env.connect({
        platform: 'outlook_contacts',
        categories: ['contacts.import'],
        attestations: { 'contacts.import': ATTESTATION },
        loginHint: account,
      });
      const pagesOf = () => env.sandbox.state.ledger.filter((e) => e.provider === 'microsoft' && e.account === account && e.path.endsWith('/contacts/delta'));
      const deadline = Date.now() + 30_000;
      while (pagesOf().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(pagesOf().length).toBeGreaterThanOrEqual(2);
      const admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
      const res = await env.t.app.request('/v1/admin/revocations', {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ target: { kind: 'connection', connectionId: carol }, reason: 'revoked mid-import' }),
      });
      expect(res.status).toBe(202);
      const at202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
      // The import was cut short: far from all 3,000 people arrived.
      await new Promise((r) => setTimeout(r, 2000));
      await waitImportIdle();
      const imported = Number(
        (
          await env.t.services.db
            .selectFrom('imported_contacts')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('connection_id', '=', carol)
            .executeTakeFirstOrThrow()
        ).n,
      );
      expect(imported).toBeLessThan(3000);
      expect(env.sandbox.state.ledger.filter((e) => e.seq > at202 && e.provider === 'microsoft' && e.account === account)).toEqual([]);
      const row = await env.t.services.db.selectFrom('connections').select('status').where('id', '=', carol).executeTakeFirstOrThrow();
      expect(row.status).toBe('revoked');
    } finally {
      await fetch(`${env.sandbox.url}/_sandbox/faults`, { method: 'DELETE' });
    }
  });

  it('revocation deletes the imported contacts (an invited one keeps its row, not its Outlook link), shreds the tokens and says Microsoft has no revoke', async () => {
    const other = await env.connect({
      platform: 'outlook_contacts',
      categories: ['contacts.import'],
      attestations: { 'contacts.import': ATTESTATION },
      loginHint: 'bob@hartmann-law.example',
    });
    await waitImportIdle();
    const db = env.t.services.db;
    const imported = await db.selectFrom('imported_contacts').select('id').where('connection_id', '=', other).execute();
    expect(imported.length).toBeGreaterThan(10);
    // One of them was invited (as inviteContact marks it).
    const invited = imported[0]!.id;
    await db.updateTable('imported_contacts').set({ invited_at: new Date() }).where('id', '=', invited).execute();
    const aliceBefore = await db
      .selectFrom('imported_contacts')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('connection_id', '!=', other)
      .executeTakeFirstOrThrow();
    const admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    const res = await env.t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'connection', connectionId: other }, reason: 'left the firm' }),
    });
    expect(res.status).toBe(202);
    const at202 = env.sandbox.state.ledger.at(-1)?.seq ?? 0;
    const id = ((await res.json()) as { revocation: { id: string } }).revocation.id;
    let view: { status: string; steps?: unknown; receipt?: unknown } = { status: 'in_progress' };
    const deadline = Date.now() + 30_000;
    while (view.status === 'in_progress' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      view = ((await (await env.t.app.request(`/v1/admin/revocations/${id}`, { headers: admin })).json()) as { revocation: typeof view }).revocation;
    }
    expect(view.status).not.toBe('in_progress');
    expect(JSON.stringify(view)).toContain('not_supported');
    // Stated on the signed receipt.
    type Receipt = { payload: { connections: Array<{ connectionId: string; steps: Array<{ step: string; result: string; detail?: string }> }> } };
    const steps = (view.receipt as Receipt).payload.connections.find((c) => c.connectionId === other)!.steps;
    const deletion = steps.find((s) => s.step === 'delete_imported_contacts');
    expect(deletion?.result).toBe('done');
    expect(deletion?.detail).toContain(`${imported.length - 1} imported contact(s) deleted; 1 invited contact(s) keep their invitation`);
    const left = await db.selectFrom('imported_contacts').select('id').where('connection_id', '=', other).execute();
    expect(left.map((r) => r.id)).toEqual([invited]);
    expect(await db.selectFrom('imported_contact_sources').select('remote_id').where('connection_id', '=', other).execute()).toEqual([]);
    // Another connection's contacts are untouched.
    const aliceAfter = await db
      .selectFrom('imported_contacts')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('connection_id', '!=', other)
      .executeTakeFirstOrThrow();
    expect(aliceAfter.n).toBe(aliceBefore.n);
    const tokens = await env.t.services.db.selectFrom('connection_tokens').selectAll().where('connection_id', '=', other).execute();
    expect(tokens).toEqual([]);
    await env.t.services.queues.enqueueImport(other, 'manual');
    await waitImportIdle();
    expect(env.sandbox.state.ledger.filter((e) => e.seq > at202 && e.provider === 'microsoft')).toEqual([]);
  });
});
