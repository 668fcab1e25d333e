import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectorFor } from '../../connectors/registry.ts';
import { SCHEDULED_IMPORT_JOB } from '../../queues/definitions.ts';
import { type SmtpCapture, startSmtpCapture } from '../../sandbox/smtp.ts';
import type { UserPrincipal } from '../../src/auth/principal.ts';
import { PENDING_INVITATION_LEASE_MS, recoverPendingInvitations } from '../../src/invitations/recovery.ts';
import { type InvitationPlatforms, inviteContact } from '../../src/invitations/service.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createSyncEnv, type SyncEnv } from '../sync/support/env.ts';
import { waitImportIdle } from './support/queues.ts';

/**
 * Invitations of imported contacts, end to end: Outlook contacts imported from the Microsoft
 * emulator over real HTTP, invitations e-mailed through nodemailer to a real SMTP server
 * (`smtp-server` on loopback, the sandbox's mail capture) or sent from the user's mailbox through
 * Graph `sendMail` (the emulator's ledger), every one through the outbound gate and in the transfer
 * log. Consent (`contacts.invite` apart from `contacts.import`), opt-out suppression, limits, no
 * duplicates, accepting (membership + sign-in link), the contacts list and its isolation, and the
 * periodic import's scheduler.
 */

const ALICE = 'alice@hartmann-law.example';
const BOB = 'bob@hartmann-law.example';
const ATTESTATION = 'I have the legal right to import these contacts';
const DAILY_LIMIT = 8;

let env: SyncEnv;
let smtp: SmtpCapture;
let aliceConnection: string;
/** Everything the service logged (level debug), searched for tokens at the end. */
const logLines: string[] = [];

type Json = Record<string, unknown>;
const db = () => env.t.services.db;

async function api(path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; body: Json }> {
  const res = await env.t.app.request(path, {
    method: init.method ?? 'GET',
    headers: { ...(init.headers ?? env.member), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const errorCode = (r: { body: Json }) => (r.body.error as { code: string } | undefined)?.code;

async function contactId(connectionId: string, email: string): Promise<string> {
  const row = await db()
    .selectFrom('imported_contacts')
    .select('id')
    .where('connection_id', '=', connectionId)
    .where('person_key', '=', `email:${email}`)
    .executeTakeFirstOrThrow();
  return row.id;
}

const invite = (id: string, headers = env.member) => api(`/v1/imported-contacts/${id}/invitations`, { method: 'POST', headers });
const mailsTo = (email: string) => smtp.messages.filter((m) => m.to.includes(email));
const tokenOf = (text: string) => /\/v1\/invitations\/(cbi_[A-Za-z0-9_-]{43})/.exec(text)?.[1] ?? null;

async function invitationLog(email: string) {
  return db()
    .selectFrom('transfer_log')
    .selectAll()
    .where('purpose', '=', 'contact_invitation')
    .where('recipient_account', '=', email)
    .orderBy('seq')
    .execute();
}

beforeAll(async () => {
  smtp = await startSmtpCapture();
  env = await createSyncEnv({
    env: { SMTP_URL: smtp.url, INVITATION_DAILY_LIMIT: String(DAILY_LIMIT), PUBLIC_BASE_URL: 'https://casebridge.test', REVOCATION_RETRY_BASE_MS: '50' },
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
  });
  await env.startWorkers();
  aliceConnection = await env.connect({
    platform: 'outlook_contacts',
    categories: ['contacts.import'],
    attestations: { 'contacts.import': ATTESTATION },
    loginHint: ALICE,
  });
  await waitImportIdle(env.t.services);
}, 120_000);
afterAll(async () => {
  await env?.close();
  await smtp?.close();
});

describe('imported contacts list', () => {
  it('pages through the caller’s contacts by name with { items, nextCursor }, each once', async () => {
    const seen: Array<{ id: string; name: string }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await api(`/v1/imported-contacts?limit=120${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      const items = r.body.items as Array<{ id: string; name: string; emails: string[]; member: boolean }>;
      seen.push(...items);
      cursor = r.body.nextCursor as string | null;
      pages++;
    } while (cursor);
    const total = await db()
      .selectFrom('imported_contacts')
      .select(db().fn.countAll<string>().as('n'))
      .where('connection_id', '=', aliceConnection)
      .executeTakeFirstOrThrow();
    expect(seen).toHaveLength(Number(total.n));
    expect(seen.length).toBe(301);
    expect(pages).toBe(3);
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    const names = seen.map((s) => s.name);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('refuses a cursor it did not hand out', async () => {
    const r = await api('/v1/imported-contacts?cursor=bm90LWEtY3Vyc29y');
    expect(r.status).toBe(400);
    expect(errorCode(r)).toBe('invalid_cursor');
  });

  it('another user of the organization, and another organization, see none of them and cannot invite them', async () => {
    const colleague = await db()
      .insertInto('users')
      .values({ organization_id: env.org.organizationId, email: 'colleague@test-firm.example', name: 'Col League', role: 'member', picture_url: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    const colleagueHeaders = await signInAs(env.t.services, { id: colleague.id, organizationId: env.org.organizationId, role: 'member' });
    const other = await seedOrg(env.t.services, 'Other Firm');
    const otherAdmin = await signInAs(env.t.services, { id: other.admin.id, organizationId: other.organizationId, role: 'admin' });
    const someone = await contactId(aliceConnection, 'person1@contacts.example');
    for (const headers of [colleagueHeaders, otherAdmin]) {
      const list = await api('/v1/imported-contacts', { headers });
      expect(list.status).toBe(200);
      expect(list.body.items).toEqual([]);
      const filtered = await api(`/v1/imported-contacts?connectionId=${aliceConnection}`, { headers });
      expect(filtered.body.items).toEqual([]);
      const r = await invite(someone, headers);
      expect(r.status).toBe(404);
      expect(errorCode(r)).toBe('not_found');
    }
    expect(mailsTo('person1@contacts.example')).toEqual([]);
  });
});

describe('invitations', () => {
  it('without the contacts.invite consent: 403, a blocked row in the log, no mail', async () => {
    const id = await contactId(aliceConnection, 'person2@contacts.example');
    const r = await invite(id);
    expect(r.status).toBe(403);
    expect(errorCode(r)).toBe('invite_consent_required');
    expect(mailsTo('person2@contacts.example')).toEqual([]);
    const rows = await invitationLog('person2@contacts.example');
    expect(rows.map((x) => [x.outcome, x.reason])).toEqual([['blocked', 'category_not_consented']]);
  });

  it('with the consent: one e-mail through SMTP carrying the link and the opt-out, logged with recipient, fields and consent', async () => {
    const grant = await api(`/v1/connections/${aliceConnection}/consents`, {
      method: 'POST',
      body: { categories: ['contacts.import', 'contacts.invite'], attestations: { 'contacts.import': ATTESTATION } },
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    const id = await contactId(aliceConnection, 'person2@contacts.example');
    const r = await invite(id);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const invitation = r.body.invitation as Json;
    expect(invitation).toMatchObject({ email: 'person2@contacts.example', channel: 'smtp', status: 'sent', contactId: id });

    const [mail, ...more] = mailsTo('person2@contacts.example');
    expect(more).toEqual([]);
    expect(mail!.subject).toBe('Max Member invites you to join Test Firm on Casebridge');
    const token = tokenOf(mail!.text)!;
    expect(token).toBeTruthy();
    // The accept link leads to the page (the opt-out to the API's one-click target).
    expect(mail!.text).toContain(`once): https://casebridge.test/invitations/${token}\n`);
    expect(mail!.text).toContain(`https://casebridge.test/v1/invitations/${token}/opt-out`);
    expect(mail!.html).toContain(`https://casebridge.test/v1/invitations/${token}/opt-out`);
    expect(mail!.headers['list-unsubscribe']).toBe(`<https://casebridge.test/v1/invitations/${token}/opt-out>`);
    expect(mail!.headers['list-unsubscribe-post']).toBe('List-Unsubscribe=One-Click');
    // Nothing of the contact but the address: no company, job title or phone in the mail.
    expect(mail!.raw).not.toMatch(/Example Partners|Paralegal/);

    const rows = await invitationLog('person2@contacts.example');
    const sent = rows.find((x) => x.outcome === 'sent')!;
    expect(sent).toBeTruthy();
    expect(sent.direction).toBe('outbound');
    expect(sent.categories).toEqual(['contacts.invite']);
    expect(sent.field_names).toEqual(['inviterName', 'link', 'organizationName', 'recipientEmail']);
    expect(sent.recipient_destination).toBe('smtp');
    expect(sent.consent_id).not.toBeNull();
    expect(sent.id).not.toBe(invitation.transferId);
    expect(rows.some((x) => x.id === invitation.transferId && x.outcome === 'intent')).toBe(true);
    // The token never reaches the log or the invitations table.
    const everything = JSON.stringify([
      await db().selectFrom('transfer_log').selectAll().execute(),
      await db().selectFrom('contact_invitations').selectAll().execute(),
    ]);
    expect(everything).not.toContain(token);
    const contact = await db().selectFrom('imported_contacts').select('invited_at').where('id', '=', id).executeTakeFirstOrThrow();
    expect(contact.invited_at).not.toBeNull();
  });

  it('no second invitation of the same address within 7 days, even when two requests race', async () => {
    const again = await invite(await contactId(aliceConnection, 'person2@contacts.example'));
    expect(again.status).toBe(409);
    expect(errorCode(again)).toBe('recently_invited');
    const id = await contactId(aliceConnection, 'person3@contacts.example');
    const results = await Promise.all([invite(id), invite(id), invite(id)]);
    expect(results.map((x) => x.status).sort()).toEqual([201, 409, 409]);
    expect(mailsTo('person3@contacts.example')).toHaveLength(1);
    expect(mailsTo('person2@contacts.example')).toHaveLength(1);
  });

  it('a member of the organization is not invited', async () => {
    await db()
      .insertInto('users')
      .values({ organization_id: env.org.organizationId, email: 'Person4@Contacts.example', name: 'Already Here', role: 'member', picture_url: null })
      .execute();
    const r = await invite(await contactId(aliceConnection, 'person4@contacts.example'));
    expect(r.status).toBe(409);
    expect(errorCode(r)).toBe('already_member');
    expect(mailsTo('person4@contacts.example')).toEqual([]);
  });

  it('accepting: the invitation shows who invites, creates the membership once, answers a sign-in link; then it is used', async () => {
    const token = tokenOf(mailsTo('person3@contacts.example')[0]!.text)!;
    const view = await api(`/v1/invitations/${token}`, { headers: {} });
    expect(view.status).toBe(200);
    expect(view.body.invitation).toMatchObject({ organizationName: 'Test Firm', inviterName: 'Max Member', email: 'person3@contacts.example', state: 'open' });
    const accepted = await api(`/v1/invitations/${token}/accept`, { method: 'POST', headers: {} });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toMatchObject({ email: 'person3@contacts.example', membershipCreated: true });
    expect(String(accepted.body.signInUrl)).toMatch(/^https:\/\/casebridge\.test\/auth\/link\/cbl_/);
    const user = await db()
      .selectFrom('users')
      .select(['id', 'role', 'organization_id'])
      .where('email', '=', 'person3@contacts.example')
      .executeTakeFirstOrThrow();
    expect(user).toMatchObject({ id: accepted.body.userId, role: 'member', organization_id: env.org.organizationId });
    const link = await db().selectFrom('sign_in_links').select(['user_id', 'used_at']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(link.used_at).toBeNull();

    const twice = await api(`/v1/invitations/${token}/accept`, { method: 'POST', headers: {} });
    expect(twice.status).toBe(409);
    expect(errorCode(twice)).toBe('invitation_used');
    expect((await db().selectFrom('users').select('id').where('email', '=', 'person3@contacts.example').execute()).length).toBe(1);
    // The platform hears of both through the webhook outbox, once each.
    const events = await db().selectFrom('webhook_events').select(['type', 'data']).where('organization_id', '=', env.org.organizationId).execute();
    const invitationId = (r: { data: unknown }) => (r.data as { invitationId?: string }).invitationId;
    const mine = events.filter((e) => e.type.startsWith('invitation.') && (e.data as { userId?: string }).userId === user.id);
    expect(mine.map((e) => e.type)).toEqual(['invitation.accepted']);
    const sent = events.filter((e) => e.type === 'invitation.sent' && invitationId(e) === invitationId(mine[0]!));
    expect(sent).toHaveLength(1);
  });

  it('an expired or unknown invitation cannot be accepted', async () => {
    const r = await invite(await contactId(aliceConnection, 'person6@contacts.example'));
    expect(r.status).toBe(201);
    const token = tokenOf(mailsTo('person6@contacts.example')[0]!.text)!;
    await db()
      .updateTable('contact_invitations')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', (r.body.invitation as { id: string }).id)
      .execute();
    const expired = await api(`/v1/invitations/${token}/accept`, { method: 'POST', headers: {} });
    expect(expired.status).toBe(410);
    expect(errorCode(expired)).toBe('invitation_expired');
    expect(await db().selectFrom('users').select('id').where('email', '=', 'person6@contacts.example').executeTakeFirst()).toBeUndefined();
    for (const bad of ['cbi_nope', `cbi_${'A'.repeat(43)}`]) {
      const unknown = await api(`/v1/invitations/${bad}/accept`, { method: 'POST', headers: {} });
      expect(unknown.status).toBe(404);
      expect(errorCode(unknown)).toBe('invitation_not_found');
    }
  });

  it('an address that opted out is never invited again: the gate blocks it and logs the refusal', async () => {
    const email = 'person8@contacts.example';
    const first = await invite(await contactId(aliceConnection, email));
    expect(first.status).toBe(201);
    const token = tokenOf(mailsTo(email)[0]!.text)!;
    const out = await api(`/v1/invitations/${token}/opt-out`, { method: 'POST', headers: {} });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ optedOut: true, email });
    // Idempotent.
    expect((await api(`/v1/invitations/${token}/opt-out`, { method: 'POST', headers: {} })).status).toBe(200);
    // Eight days later the re-invite window is over; the opt-out is not.
    await db()
      .updateTable('contact_invitations')
      .set({ created_at: new Date(Date.now() - 8 * 86_400_000) })
      .where('email', '=', email)
      .execute();
    const again = await invite(await contactId(aliceConnection, email));
    expect(again.status).toBe(403);
    expect(errorCode(again)).toBe('recipient_opted_out');
    expect(mailsTo(email)).toHaveLength(1);
    const rows = await invitationLog(email);
    expect(rows.at(-1)).toMatchObject({ outcome: 'blocked', reason: 'recipient_suppressed' });
  });

  it('a mail server that refuses the message: 502, a failed row, and the attempt does not count against the address', async () => {
    const email = 'person9@contacts.example';
    smtp.refuse.add(email);
    const r = await invite(await contactId(aliceConnection, email));
    expect(r.status).toBe(502);
    expect(errorCode(r)).toBe('invitation_delivery_failed');
    expect(JSON.stringify(r.body)).not.toMatch(/cbi_/);
    expect((await invitationLog(email)).at(-1)).toMatchObject({ outcome: 'failed' });
    smtp.refuse.delete(email);
    const retry = await invite(await contactId(aliceConnection, email));
    expect(retry.status).toBe(201);
    expect(mailsTo(email)).toHaveLength(1);
  });

  it('an invitation saved but never sent (the process died in between) blocks its address until recovery frees it; one sent but not recorded is recorded as sent', async () => {
    const platforms: InvitationPlatforms = { mailbox: (p) => connectorFor(p)?.mailbox, oauth: (p) => connectorFor(p)?.oauth };
    const principal: UserPrincipal = { kind: 'user', userId: env.org.member.id, organizationId: env.org.organizationId, role: 'member', sessionId: 'test' };
    const died = () => {
      throw new Error('process died here');
    };
    const statusOf = async (email: string) =>
      db().selectFrom('contact_invitations').select(['status', 'reason', 'transfer_id']).where('email', '=', email).orderBy('created_at').execute();

    // 1. Dies after the insert, before the send: no mail, no log row, the address is blocked.
    const never = 'person10@contacts.example';
    await expect(
      inviteContact(env.t.services, platforms, principal, { contactId: await contactId(aliceConnection, never) }, { afterInsert: died }),
    ).rejects.toThrow('process died here');
    // 2. Dies after the gate sent the mail and logged it, before the status is saved.
    const unrecorded = 'person11@contacts.example';
    await expect(
      inviteContact(env.t.services, platforms, principal, { contactId: await contactId(aliceConnection, unrecorded) }, { afterSend: died }),
    ).rejects.toThrow('process died here');
    expect(await statusOf(never)).toMatchObject([{ status: 'pending' }]);
    expect(await statusOf(unrecorded)).toMatchObject([{ status: 'pending' }]);
    expect(mailsTo(never)).toEqual([]);
    expect(mailsTo(unrecorded)).toHaveLength(1);
    const blocked = await invite(await contactId(aliceConnection, never));
    expect(blocked.status).toBe(409);
    expect(errorCode(blocked)).toBe('recently_invited');

    // Within the lease nothing is touched (the send may still be under way).
    expect(await recoverPendingInvitations(env.t.services)).toEqual({ sent: 0, failed: 0 });
    const later = new Date(Date.now() + PENDING_INVITATION_LEASE_MS + 1000);
    expect(await recoverPendingInvitations(env.t.services, later)).toEqual({ sent: 1, failed: 1 });
    expect(await statusOf(never)).toMatchObject([{ status: 'failed', reason: 'interrupted_not_sent' }]);
    const [recorded] = await statusOf(unrecorded);
    expect(recorded).toMatchObject({ status: 'sent', reason: 'recovered_after_interruption' });
    expect((await invitationLog(unrecorded)).some((r) => r.id === recorded!.transfer_id && r.outcome === 'intent')).toBe(true);
    const contact = await db()
      .selectFrom('imported_contacts')
      .select('invited_at')
      .where('id', '=', await contactId(aliceConnection, unrecorded))
      .executeTakeFirstOrThrow();
    expect(contact.invited_at).not.toBeNull();
    // Nothing was sent late, and running it again changes nothing.
    expect(mailsTo(never)).toEqual([]);
    expect(await recoverPendingInvitations(env.t.services, later)).toEqual({ sent: 0, failed: 0 });

    // The freed address can be invited again at once; the recorded one cannot.
    const again = await invite(await contactId(aliceConnection, never));
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(mailsTo(never)).toHaveLength(1);
    expect((await invite(await contactId(aliceConnection, unrecorded))).status).toBe(409);
  });

  it(`at most ${DAILY_LIMIT} invitations per user per day`, async () => {
    const counted = async () =>
      Number(
        (
          await db()
            .selectFrom('contact_invitations')
            .select(db().fn.countAll<string>().as('n'))
            .where('inviter_user_id', '=', env.org.member.id)
            .where('status', 'in', ['pending', 'sent', 'accepted'])
            .where('created_at', '>', new Date(Date.now() - 86_400_000))
            .executeTakeFirstOrThrow()
        ).n,
      );
    let n = 20;
    while ((await counted()) < DAILY_LIMIT) {
      const r = await invite(await contactId(aliceConnection, `person${n++}@contacts.example`));
      expect(r.status).toBe(201);
    }
    const over = await invite(await contactId(aliceConnection, `person${n}@contacts.example`));
    expect(over.status).toBe(429);
    expect(errorCode(over)).toBe('invitation_limit_reached');
    expect(mailsTo(`person${n}@contacts.example`)).toEqual([]);
    expect(await counted()).toBe(DAILY_LIMIT);
  });
});

describe('send from my mailbox', () => {
  it('with Mail.Send chosen at connect, the invitation goes through Graph sendMail (in the emulator’s ledger), not SMTP', async () => {
    const bob = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    const res = await env.t.app.request('/v1/connections', {
      method: 'POST',
      headers: { ...bob, 'content-type': 'application/json' },
      body: JSON.stringify({
        platform: 'outlook_contacts',
        categories: ['contacts.import', 'contacts.invite'],
        attestations: { 'contacts.import': ATTESTATION },
        caseScope: { kind: 'all' },
        settings: { sendInvitationsFromMailbox: true },
        loginHint: BOB,
      }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { authorizationUrl, connection } = (await res.json()) as { authorizationUrl: string; connection: { id: string } };
    expect(new URL(authorizationUrl).searchParams.get('scope')).toContain('Mail.Send');
    const back = new URL((await fetch(authorizationUrl, { redirect: 'manual' })).headers.get('location')!);
    const cb = await env.t.app.request(back.pathname + back.search, { headers: { ...bob, accept: 'application/json' } });
    expect(cb.status, await cb.clone().text()).toBe(200);
    await waitImportIdle(env.t.services);

    const email = 'person50@contacts.example';
    const from = env.sandbox.state.ledger.at(-1)!.seq;
    const r = await invite(await contactId(connection.id, email), bob);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.invitation).toMatchObject({ channel: 'mailbox', status: 'sent' });
    const sends = env.sandbox.state.ledger.filter((e) => e.seq > from && e.path.endsWith('/me/sendMail'));
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({ status: 202, account: BOB, write: true });
    const object = sends[0]!.object as { to: string[]; subject: string; body: string };
    expect(object.to).toEqual([email]);
    expect(object.subject).toBe('Ada Admin invites you to join Test Firm on Casebridge');
    expect(object.body).toMatch(/\/v1\/invitations\/cbi_[A-Za-z0-9_-]{43}\/opt-out/);
    expect(mailsTo(email)).toEqual([]);
    expect((await invitationLog(email)).at(-1)).toMatchObject({ outcome: 'sent', recipient_destination: 'mailbox', provider_status: 202 });
  });
});

describe('periodic import', () => {
  it('every connection has a 30-minute import scheduler; its tick imports (unless an import just ran); revocation removes it', async () => {
    const q = env.t.services.queues.import;
    const scheduler = (await q.getJobSchedulers()).find((s) => s.key === `import:${aliceConnection}`);
    expect(scheduler?.every).toBe(30 * 60_000);
    // A tick right after an import is skipped...
    let from = env.sandbox.state.ledger.at(-1)!.seq;
    await q.add(SCHEDULED_IMPORT_JOB, { connectionId: aliceConnection });
    await waitImportIdle(env.t.services);
    expect(env.sandbox.state.ledger.filter((e) => e.seq > from && e.provider === 'microsoft')).toEqual([]);
    // ...a tick half an interval or more after the last import imports.
    await db()
      .updateTable('connector_cursors')
      .set({ updated_at: new Date(Date.now() - 20 * 60_000) })
      .where('connection_id', '=', aliceConnection)
      .execute();
    from = env.sandbox.state.ledger.at(-1)!.seq;
    await q.add(SCHEDULED_IMPORT_JOB, { connectionId: aliceConnection });
    await waitImportIdle(env.t.services);
    const deltas = env.sandbox.state.ledger.filter((e) => e.seq > from && e.path.endsWith('/contacts/delta'));
    // Nothing changed: one request per folder.
    expect(deltas).toHaveLength(3);

    const admin = await signInAs(env.t.services, { id: env.org.admin.id, organizationId: env.org.organizationId, role: 'admin' });
    const rev = await api('/v1/admin/revocations', {
      method: 'POST',
      headers: admin,
      body: { target: { kind: 'connection', connectionId: aliceConnection }, reason: 'test' },
    });
    expect(rev.status).toBe(202);
    // (getJobScheduler answers a legacy-key parse for a missing id with a colon: list them instead.)
    const scheduled = async () => (await q.getJobSchedulers()).some((s) => s.key === `import:${aliceConnection}`);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await scheduled())) await new Promise((r) => setTimeout(r, 100));
    expect(await scheduled()).toBe(false);
    expect((await q.getDelayed()).filter((j) => j.name === SCHEDULED_IMPORT_JOB && j.data.connectionId === aliceConnection)).toEqual([]);
  });
});

describe('secrets', () => {
  it('no invitation or sign-in token reaches the logs', () => {
    const tokens = smtp.messages.map((m) => tokenOf(m.text)).filter((t): t is string => !!t);
    expect(tokens.length).toBeGreaterThan(5);
    const logged = logLines.join('');
    expect(logged.length).toBeGreaterThan(0);
    for (const token of tokens) expect(logged).not.toContain(token);
    expect(logged).not.toMatch(/cbi_[A-Za-z0-9_-]{43}|cbl_[A-Za-z0-9_-]{43}/);
  });
});
