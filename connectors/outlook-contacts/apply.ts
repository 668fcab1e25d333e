import { type RawBuilder, sql } from 'kysely';
import { PREPARED, type Tx } from '../../src/db/database.ts';
import type { ConnectorContext, PullPage } from '../types.ts';
import type { ImportedContactFields } from './delta.ts';

/**
 * The imported-contacts store of a connection (tables `imported_contacts` and
 * `imported_contact_sources`, migration 0017), applied idempotently: a person is keyed by their
 * first e-mail address (else the provider id), so the same person from two folders, two runs or a
 * replayed delta entry is one contact, and the same page applied twice changes nothing. A provider
 * deletion removes the link; the contact goes with its last link unless it was already invited (an
 * invitation is a fact the user acted on: only its link to Outlook goes). Members of the organization
 * are marked (`matched_user_id`): they need no invitation.
 */

const remoteIdOf = (key: string) => key.slice('contact:'.length);

function personKey(remoteId: string, fields: ImportedContactFields): string {
  return fields.emails[0] ? `email:${fields.emails[0]}` : `id:${remoteId}`;
}

/** Removes a contact that has no source left, unless it was invited. */
async function dropIfOrphaned(tx: Tx, contactIds: string[]): Promise<void> {
  if (!contactIds.length) return;
  await tx
    .deleteFrom('imported_contacts')
    .where('id', 'in', contactIds)
    .where('invited_at', 'is', null)
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('imported_contact_sources as s').select('s.remote_id').whereRef('s.contact_id', '=', 'imported_contacts.id'))),
    )
    .execute();
}

/**
 * Applies a page in ONE statement, whatever its size. With `storeCursor` (the engine's cursor write
 * as a CTE, see `ConnectorPull.applyPageWithCursor`) the statement also stores the page's cursor and
 * is its own transaction: page and cursor commit together in one round trip. Without it (tests, the
 * generic path) the caller's transaction does that. The page travels as one jsonb parameter;
 * data-modifying CTEs then: read the links the page's items had (`prev`), delete the links of
 * `@removed` items (`removed`), upsert one row per person with the member match computed in SQL
 * (`fresh`, `people`; a person whose fields are unchanged is not rewritten, their id comes from
 * `known`), upsert the links that point elsewhere now (`wanted`, `linked`), and drop the contacts
 * left without a link and never invited (the final DELETE). A replayed page or a 410 resync of an
 * unchanged book thus writes nothing. Nothing is applied unless the connection is still active
 * (`live`, a share lock on its row: a revocation's status change waits for a page being applied, and
 * a page fetched before the revocation but applied after it writes nothing — the revocation deletes
 * what was imported).
 * All CTEs see the same snapshot, so the final DELETE counts a contact's links as:
 * those outside this page (untouched) plus those of `wanted` (the page's items, where they point now).
 * Its text never varies (the page is a parameter): on PostgreSQL it is a prepared statement
 * ({@link PREPARED}), parsed and planned once per connection — planning was a tenth of a page's
 * database time, a fifth of a replayed page's.
 */
export async function applyContactsPage(ctx: ConnectorContext, items: PullPage['items'], storeCursor?: RawBuilder<unknown>): Promise<void> {
  if (!items.length) {
    if (storeCursor) await sql`WITH ${storeCursor} SELECT 1`.execute(ctx.db);
    return;
  }
  const { connection } = ctx;
  // The last entry of an item in the page wins (as if applied one after the other).
  const last = new Map<string, PullPage['items'][number]>();
  for (const item of items) last.set(remoteIdOf(item.key), item);
  const input = [...last].map(([remoteId, item], ord) => {
    if (item.deleted) return { ord, remote_id: remoteId, deleted: true };
    const f = item.fields as unknown as ImportedContactFields;
    return {
      ord,
      remote_id: remoteId,
      deleted: false,
      person_key: personKey(remoteId, f),
      display_name: f.name,
      emails: f.emails,
      company: f.company,
      job_title: f.jobTitle,
      phones: f.phones,
    };
  });
  const conn = connection.id;
  const org = connection.organizationId;
  await sql`
    WITH ${storeCursor ? sql`${storeCursor},` : sql``}
    live AS (
      SELECT id FROM connections WHERE id = ${conn} AND status = 'active' FOR SHARE
    ),
    input AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(input)}::jsonb) AS x(
        ord int, remote_id text, deleted boolean, person_key text, display_name text,
        emails jsonb, company text, job_title text, phones jsonb)
      WHERE EXISTS (SELECT 1 FROM live)
    ),
    prev AS MATERIALIZED (
      -- One primary-key lookup per item (a LATERAL with LIMIT is never flattened): the hash join the
      -- planner picks otherwise reads every link of the book, on every page. MATERIALIZED: read once
      -- and hash-joined below (inlined, it was probed once per item: 200 x 200 rows).
      SELECT s.remote_id, s.contact_id FROM input i
      CROSS JOIN LATERAL (
        SELECT remote_id, contact_id FROM imported_contact_sources
        WHERE connection_id = ${conn} AND remote_id = i.remote_id
        LIMIT 1
      ) s
    ),
    removed AS (
      DELETE FROM imported_contact_sources s USING input i
      WHERE s.connection_id = ${conn} AND s.remote_id = i.remote_id AND i.deleted
      RETURNING s.contact_id
    ),
    fresh AS MATERIALIZED (
      -- One row per person: the last entry of the page wins (as if applied one after the other).
      SELECT DISTINCT ON (person_key) person_key, display_name, emails, company, job_title, phones,
        (SELECT u.id FROM jsonb_array_elements_text(emails) WITH ORDINALITY AS e(address, n)
           JOIN users u ON u.organization_id = ${org} AND lower(u.email) = e.address
           ORDER BY e.n LIMIT 1) AS matched_user_id
      FROM input WHERE NOT deleted ORDER BY person_key, ord DESC
    ),
    people AS (
      -- A person whose fields did not change is not rewritten (a 410 resync re-reads the whole book):
      -- not returned either, so their id comes from known.
      INSERT INTO imported_contacts
        (connection_id, organization_id, user_id, person_key, display_name, emails, company, job_title, phones, matched_user_id)
      SELECT ${conn}, ${org}, ${connection.userId}, person_key, display_name, emails, company, job_title, phones, matched_user_id FROM fresh
      ON CONFLICT (connection_id, person_key) DO UPDATE SET
        display_name = excluded.display_name, emails = excluded.emails, company = excluded.company,
        job_title = excluded.job_title, phones = excluded.phones, matched_user_id = excluded.matched_user_id,
        updated_at = now()
      WHERE (imported_contacts.display_name, imported_contacts.emails, imported_contacts.company, imported_contacts.job_title,
             imported_contacts.phones, imported_contacts.matched_user_id)
        IS DISTINCT FROM (excluded.display_name, excluded.emails, excluded.company, excluded.job_title, excluded.phones, excluded.matched_user_id)
      RETURNING id, person_key
    ),
    known AS MATERIALIZED (
      -- The people not rewritten: their row as the statement found it (a primary-key lookup each;
      -- none on a first import, where every person is returned by people).
      SELECT f.person_key, c.id FROM fresh f
      CROSS JOIN LATERAL (
        SELECT id FROM imported_contacts WHERE connection_id = ${conn} AND person_key = f.person_key LIMIT 1
      ) c
      WHERE NOT EXISTS (SELECT 1 FROM people p WHERE p.person_key = f.person_key)
    ),
    wanted AS MATERIALIZED (
      -- Where each item of the page points now (written or already so).
      SELECT i.remote_id, coalesce(p.id, k.id) AS contact_id FROM input i
      LEFT JOIN people p ON p.person_key = i.person_key
      LEFT JOIN known k ON k.person_key = i.person_key
      WHERE NOT i.deleted
    ),
    linked AS (
      INSERT INTO imported_contact_sources (connection_id, remote_id, contact_id)
      SELECT ${conn}, remote_id, contact_id FROM wanted
      ON CONFLICT (connection_id, remote_id) DO UPDATE SET contact_id = excluded.contact_id, updated_at = now()
      WHERE imported_contact_sources.contact_id <> excluded.contact_id
    ),
    touched AS (
      SELECT contact_id FROM removed
      UNION SELECT p.contact_id FROM prev p JOIN wanted w ON w.remote_id = p.remote_id WHERE w.contact_id <> p.contact_id
    )
    DELETE FROM imported_contacts c USING touched t
    WHERE c.id = t.contact_id AND c.invited_at IS NULL
      AND NOT EXISTS (
        SELECT 1 FROM imported_contact_sources s
        WHERE s.contact_id = c.id AND NOT (s.connection_id = ${conn} AND s.remote_id IN (SELECT remote_id FROM input)))
      AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.contact_id = c.id)
    ${sql.raw(PREPARED)}
  `.execute(ctx.db);
}

/**
 * After a from-scratch import: removes the links (and orphaned contacts) of items no longer at the
 * provider. The anti-join runs in the database: the seen ids go in as one jsonb parameter and only
 * the contacts of removed links come back (reading every link of a 10,000-contact book into the
 * process and comparing there took ~100 ms).
 */
export async function sweepContacts(ctx: ConnectorContext, seen: ReadonlySet<string>): Promise<number> {
  const kept = JSON.stringify([...seen].filter((k) => k.startsWith('contact:')).map(remoteIdOf));
  return ctx.db.transaction().execute(async (tx) => {
    const { rows } = await sql<{ contact_id: string }>`
      DELETE FROM imported_contact_sources s
      WHERE s.connection_id = ${ctx.connection.id}
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(${kept}::jsonb) AS k(remote_id) WHERE k.remote_id = s.remote_id)
      RETURNING s.contact_id
    `.execute(tx);
    if (!rows.length) return 0;
    await dropIfOrphaned(tx, [...new Set(rows.map((r) => r.contact_id))]);
    return rows.length;
  });
}
