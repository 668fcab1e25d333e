import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyContactsPage, sweepContacts } from '../../connectors/outlook-contacts/apply.ts';
import type { ConnectorContext, PullPage } from '../../connectors/types.ts';
import { cursorCte, loadCursor } from '../../src/sync/pull.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * The one-statement apply of a contacts page, on the real database: the cases its CTEs must get
 * right together — a person in two folders, an item whose first address changes (the old person
 * goes unless invited), `@removed`, a replayed page, a member match, and a connection no longer
 * active (nothing written).
 */

let t: TestServices;
let ctx: ConnectorContext;
let connectionId: string;

const item = (id: string, name: string, emails: string[]): PullPage['items'][number] => ({
  key: `contact:${id}`,
  deleted: false,
  fields: { name, emails, company: null, jobTitle: null, phones: [] },
});
const removed = (id: string): PullPage['items'][number] => ({ key: `contact:${id}`, deleted: true, fields: {} });

/** As the engine calls it: inside the page's transaction. */
const apply = (items: PullPage['items']) => t.services.db.transaction().execute((tx) => applyContactsPage({ ...ctx, db: tx }, items));

async function book() {
  const people = await t.services.db
    .selectFrom('imported_contacts')
    .select(['id', 'person_key', 'display_name', 'matched_user_id', 'invited_at'])
    .where('connection_id', '=', connectionId)
    .orderBy('person_key')
    .execute();
  const links = await t.services.db
    .selectFrom('imported_contact_sources')
    .select(['remote_id', 'contact_id'])
    .where('connection_id', '=', connectionId)
    .execute();
  const keyOf = new Map(people.map((p) => [p.id, p.person_key]));
  return {
    people: people.map((p) => p.person_key),
    links: Object.fromEntries(links.map((l) => [l.remote_id, keyOf.get(l.contact_id)])),
    rows: people,
  };
}

/** An active Outlook contacts connection of the user. */
const newConnection = (organizationId: string, userId: string) =>
  t.services.db
    .insertInto('connections')
    .values({
      organization_id: organizationId,
      user_id: userId,
      platform: 'outlook_contacts',
      status: 'active',
      settings: '{}',
      last_error: 'null',
      sync_progress: 'null',
    })
    .returning('id')
    .executeTakeFirstOrThrow();

beforeAll(async () => {
  t = await createTestServices();
  const org = await seedOrg(t.services);
  const conn = await newConnection(org.organizationId, org.member.id);
  connectionId = conn.id;
  ctx = {
    connection: { id: conn.id, organizationId: org.organizationId, userId: org.member.id },
    db: t.services.db,
  } as unknown as ConnectorContext;
  // A member of the organization, to be matched.
  await t.services.db
    .insertInto('users')
    .values({ organization_id: org.organizationId, email: 'Partner@Firm.example', name: 'Partner', role: 'member', picture_url: null })
    .execute();
}, 60_000);
afterAll(async () => t?.cleanup());

describe('applying a contacts page in one statement', () => {
  it('one person from two folders, a member matched, the same page twice changes nothing', async () => {
    const page = [
      item('a1', 'Ann', ['ann@x.example']),
      item('b1', 'Ann B', ['ann@x.example', 'ann@y.example']),
      item('p1', 'Partner', ['partner@firm.example']),
    ];
    await apply(page);
    const first = await book();
    expect(first.people).toEqual(['email:ann@x.example', 'email:partner@firm.example']);
    expect(first.links).toEqual({ a1: 'email:ann@x.example', b1: 'email:ann@x.example', p1: 'email:partner@firm.example' });
    // The later entry of the same person wins; the member is marked.
    expect(first.rows.find((r) => r.person_key === 'email:ann@x.example')!.display_name).toBe('Ann B');
    expect(first.rows.find((r) => r.person_key === 'email:partner@firm.example')!.matched_user_id).not.toBeNull();
    await apply(page);
    const again = await book();
    expect(again.people).toEqual(first.people);
    expect(again.rows.map((r) => r.id)).toEqual(first.rows.map((r) => r.id));
  });

  it('an unchanged person or link is not rewritten (a replay or a 410 resync writes nothing); a changed one is', async () => {
    const stamps = async () => {
      const person = await t.services.db
        .selectFrom('imported_contacts')
        .select(['display_name', 'updated_at'])
        .where('connection_id', '=', connectionId)
        .where('person_key', '=', 'email:vic@x.example')
        .executeTakeFirstOrThrow();
      const link = await t.services.db
        .selectFrom('imported_contact_sources')
        .select('updated_at')
        .where('connection_id', '=', connectionId)
        .where('remote_id', '=', 'v1')
        .executeTakeFirstOrThrow();
      return { name: person.display_name, person: person.updated_at.getTime(), link: link.updated_at.getTime() };
    };
    await apply([item('v1', 'Vic', ['vic@x.example'])]);
    const first = await stamps();
    await new Promise((r) => setTimeout(r, 5));
    await apply([item('v1', 'Vic', ['vic@x.example'])]);
    expect(await stamps()).toEqual(first);
    await apply([item('v1', 'Victor', ['vic@x.example'])]);
    const renamed = await stamps();
    expect(renamed.name).toBe('Victor');
    expect(renamed.person).toBeGreaterThan(first.person);
    expect(renamed.link).toBe(first.link);
  });

  it('an item whose first address changes moves to the new person; the old one goes with its last link, unless invited', async () => {
    await apply([item('c1', 'Cy', ['cy@x.example']), item('d1', 'Di', ['di@x.example'])]);
    const invitedId = (await book()).rows.find((r) => r.person_key === 'email:di@x.example')!.id;
    await t.services.db.updateTable('imported_contacts').set({ invited_at: new Date() }).where('id', '=', invitedId).execute();
    await apply([item('c1', 'Cy', ['cy@new.example']), item('d1', 'Di', ['di@new.example'])]);
    const after = await book();
    expect(after.people).not.toContain('email:cy@x.example');
    expect(after.people).toContain('email:cy@new.example');
    // Invited: kept, without a link.
    expect(after.people).toContain('email:di@x.example');
    expect(Object.values(after.links)).not.toContain('email:di@x.example');
    expect(after.links.c1).toBe('email:cy@new.example');
    // Ann keeps her row while one of her two items is left.
    await apply([removed('a1')]);
    expect((await book()).people).toContain('email:ann@x.example');
    await apply([removed('b1'), removed('never-seen')]);
    const gone = await book();
    expect(gone.people).not.toContain('email:ann@x.example');
    expect(gone.links.a1).toBeUndefined();
    // Added then removed in the same page: the last entry wins.
    await apply([item('e1', 'Ed', ['ed@x.example']), removed('e1')]);
    expect((await book()).people).not.toContain('email:ed@x.example');
  });

  it("with the engine's cursor write, page and cursor are one statement: both commit, or neither", async () => {
    const withCursor = (items: PullPage['items'], cursor: string) =>
      applyContactsPage({ ...ctx, db: t.services.db }, items, cursorCte(connectionId, { kind: 'page', cursor }));
    await withCursor([item('f1', 'Fay', ['fay@x.example'])], 'page-1');
    expect((await book()).links.f1).toBe('email:fay@x.example');
    expect(await loadCursor(t.services.db, connectionId)).toEqual({ cursor: 'page-1', kind: 'page' });
    // An empty page (a folder listing) still stores its cursor.
    await withCursor([], 'page-2');
    expect((await loadCursor(t.services.db, connectionId))?.cursor).toBe('page-2');
    // A page that fails half-way (a contact without a name) leaves the cursor where it was and writes nothing.
    const broken = { key: 'contact:g1', deleted: false, fields: { emails: ['gil@x.example'], company: null, jobTitle: null, phones: [] } };
    await expect(withCursor([item('h1', 'Hal', ['hal@x.example']), broken], 'page-3')).rejects.toThrow();
    expect((await loadCursor(t.services.db, connectionId))?.cursor).toBe('page-2');
    expect((await book()).people).not.toContain('email:hal@x.example');
  });

  it('a deleted connection takes its contacts and their links with it (organization and user keys are implied by it)', async () => {
    const other = await newConnection(ctx.connection.organizationId, ctx.connection.userId);
    const otherCtx = { ...ctx, connection: { ...ctx.connection, id: other.id } } as ConnectorContext;
    await t.services.db.transaction().execute((tx) => applyContactsPage({ ...otherCtx, db: tx }, [item('o1', 'Oz', ['oz@x.example'])]));
    const count = async (table: 'imported_contacts' | 'imported_contact_sources') =>
      Number(
        (
          await t.services.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('connection_id', '=', other.id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect([await count('imported_contacts'), await count('imported_contact_sources')]).toEqual([1, 1]);
    await t.services.db.deleteFrom('connections').where('id', '=', other.id).execute();
    expect([await count('imported_contacts'), await count('imported_contact_sources')]).toEqual([0, 0]);
  });

  it("a contact's organization and user must be its connection's (one composite key checks them)", async () => {
    const stranger = await t.services.db
      .insertInto('users')
      .values({ organization_id: ctx.connection.organizationId, email: 'stranger@x.example', name: 'Stranger', role: 'member', picture_url: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(
      t.services.db
        .insertInto('imported_contacts')
        .values({
          connection_id: ctx.connection.id,
          organization_id: ctx.connection.organizationId,
          user_id: stranger.id,
          person_key: 'email:mismatch@x.example',
          display_name: 'Mismatch',
          emails: '[]',
          phones: '[]',
        })
        .execute(),
    ).rejects.toThrow(/imported_contacts_connection_fkey/);
  });

  it('the sweep after a from-scratch import removes the links not seen; a person goes with their last link, unless invited', async () => {
    await apply([
      item('s1', 'Sam', ['sam@x.example']),
      item('s2', 'Sam 2', ['sam@x.example']),
      item('t1', 'Tia', ['tia@x.example']),
      item('u1', 'Uma', ['uma@x.example']),
    ]);
    const tia = (await book()).rows.find((r) => r.person_key === 'email:tia@x.example')!.id;
    await t.services.db.updateTable('imported_contacts').set({ invited_at: new Date() }).where('id', '=', tia).execute();
    const seen = new Set(
      Object.keys((await book()).links)
        .filter((id) => !['s2', 't1', 'u1'].includes(id))
        .map((id) => `contact:${id}`),
    );
    expect(await sweepContacts(ctx, seen)).toBe(3);
    const after = await book();
    expect(Object.keys(after.links).sort()).toEqual([...seen].map((k) => k.slice('contact:'.length)).sort());
    expect(after.links.s1).toBe('email:sam@x.example');
    expect(after.people).toContain('email:tia@x.example');
    expect(after.people).not.toContain('email:uma@x.example');
    expect(await sweepContacts(ctx, seen)).toBe(0);
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('on PostgreSQL the page statement is prepared once per connection (parsed and planned once)', async () => {
    const prepared = await t.services.db.connection().execute(async (conn) => {
      for (const [i, id] of ['pp1', 'pp2', 'pp3'].entries())
        await applyContactsPage(
          { ...ctx, db: conn },
          [item(id, `Pat ${i}`, [`pat${i}@x.example`])],
          cursorCte(connectionId, { kind: 'page', cursor: `pp-${i}` }),
        );
      const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(conn);
      return rows.filter((r) => r.statement.includes('INSERT INTO imported_contact_sources') && r.statement.includes('pull_cursor'));
    });
    expect(prepared).toHaveLength(1);
    expect((await book()).links.pp3).toBe('email:pat2@x.example');
  });

  it('writes nothing once the connection is no longer active (a revocation came between fetch and apply)', async () => {
    await t.services.db.updateTable('connections').set({ status: 'revoked' }).where('id', '=', connectionId).execute();
    await apply([item('z1', 'Zed', ['zed@x.example'])]);
    expect((await book()).people).not.toContain('email:zed@x.example');
    await t.services.db.updateTable('connections').set({ status: 'active' }).where('id', '=', connectionId).execute();
  });
});
