import type { Tx } from '../../src/db/database.ts';
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

export async function applyContactsPage(ctx: ConnectorContext, items: PullPage['items']): Promise<void> {
  if (!items.length) return;
  const { connection } = ctx;
  // The last entry of an item in the page wins (as if applied one after the other).
  const last = new Map<string, PullPage['items'][number]>();
  for (const item of items) last.set(remoteIdOf(item.key), item);
  const remoteIds = [...last.keys()];
  // A page is applied in a handful of statements, whatever its size: one read of the links, one of
  // the members, one delete, one multi-row upsert of the people and one of the links.
  await ctx.db.transaction().execute(async (tx) => {
    const before = await tx
      .selectFrom('imported_contact_sources')
      .select(['remote_id', 'contact_id'])
      .where('connection_id', '=', connection.id)
      .where('remote_id', 'in', remoteIds)
      .execute();
    const previous = new Map(before.map((r) => [r.remote_id, r.contact_id]));
    const touched = new Set<string>();

    const deleted = remoteIds.filter((id) => last.get(id)!.deleted && previous.has(id));
    if (deleted.length) {
      await tx.deleteFrom('imported_contact_sources').where('connection_id', '=', connection.id).where('remote_id', 'in', deleted).execute();
      for (const id of deleted) touched.add(previous.get(id)!);
    }

    const upserts = remoteIds
      .filter((id) => !last.get(id)!.deleted)
      .map((id) => ({ remoteId: id, f: last.get(id)!.fields as unknown as ImportedContactFields }));
    if (upserts.length) {
      const emails = [...new Set(upserts.flatMap((u) => u.f.emails))];
      const members = emails.length
        ? await tx
            .selectFrom('users')
            .select(['id', 'email'])
            .where('organization_id', '=', connection.organizationId)
            .where((eb) => eb(eb.fn('lower', ['email']), 'in', emails))
            .execute()
        : [];
      const memberBy = new Map(members.map((m) => [m.email.toLowerCase(), m.id]));
      // One row per person: the same person twice in a page (two folders) is one upsert, the later wins.
      const people = new Map<string, ImportedContactFields>();
      for (const u of upserts) people.set(personKey(u.remoteId, u.f), u.f);
      const now = new Date();
      const rows = await tx
        .insertInto('imported_contacts')
        .values(
          [...people].map(([key, f]) => ({
            connection_id: connection.id,
            organization_id: connection.organizationId,
            user_id: connection.userId,
            person_key: key,
            display_name: f.name,
            emails: JSON.stringify(f.emails),
            company: f.company,
            job_title: f.jobTitle,
            phones: JSON.stringify(f.phones),
            matched_user_id: f.emails.map((e) => memberBy.get(e)).find(Boolean) ?? null,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['connection_id', 'person_key']).doUpdateSet((eb) => ({
            display_name: eb.ref('excluded.display_name'),
            emails: eb.ref('excluded.emails'),
            company: eb.ref('excluded.company'),
            job_title: eb.ref('excluded.job_title'),
            phones: eb.ref('excluded.phones'),
            matched_user_id: eb.ref('excluded.matched_user_id'),
            updated_at: now,
          })),
        )
        .returning(['id', 'person_key'])
        .execute();
      const idOf = new Map(rows.map((r) => [r.person_key, r.id]));
      const links = upserts.map((u) => ({ connection_id: connection.id, remote_id: u.remoteId, contact_id: idOf.get(personKey(u.remoteId, u.f))! }));
      await tx
        .insertInto('imported_contact_sources')
        .values(links)
        .onConflict((oc) => oc.columns(['connection_id', 'remote_id']).doUpdateSet((eb) => ({ contact_id: eb.ref('excluded.contact_id'), updated_at: now })))
        .execute();
      // An item that now names another person (its first address changed): the old one may be orphaned.
      for (const l of links) {
        const old = previous.get(l.remote_id);
        if (old && old !== l.contact_id) touched.add(old);
      }
    }
    await dropIfOrphaned(tx, [...touched]);
  });
}

/** After a from-scratch import: removes the links (and orphaned contacts) of items no longer at the provider. */
export async function sweepContacts(ctx: ConnectorContext, seen: ReadonlySet<string>): Promise<number> {
  return ctx.db.transaction().execute(async (tx) => {
    const sources = await tx
      .selectFrom('imported_contact_sources')
      .select(['remote_id', 'contact_id'])
      .where('connection_id', '=', ctx.connection.id)
      .execute();
    const gone = sources.filter((s) => !seen.has(`contact:${s.remote_id}`));
    if (!gone.length) return 0;
    await tx
      .deleteFrom('imported_contact_sources')
      .where('connection_id', '=', ctx.connection.id)
      .where(
        'remote_id',
        'in',
        gone.map((g) => g.remote_id),
      )
      .execute();
    await dropIfOrphaned(tx, [...new Set(gone.map((g) => g.contact_id))]);
    return gone.length;
  });
}
