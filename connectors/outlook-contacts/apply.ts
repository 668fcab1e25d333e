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
  await ctx.db.transaction().execute(async (tx) => {
    const remoteIds = items.map((i) => remoteIdOf(i.key));
    const before = await tx
      .selectFrom('imported_contact_sources')
      .select(['remote_id', 'contact_id'])
      .where('connection_id', '=', connection.id)
      .where('remote_id', 'in', remoteIds)
      .execute();
    const previous = new Map(before.map((r) => [r.remote_id, r.contact_id]));
    const touched = new Set<string>();

    const upserts = items.filter((i) => !i.deleted);
    const emails = [...new Set(upserts.flatMap((i) => (i.fields as unknown as ImportedContactFields).emails))];
    const members = emails.length
      ? await tx
          .selectFrom('users')
          .select(['id', 'email'])
          .where('organization_id', '=', connection.organizationId)
          .where((eb) => eb(eb.fn('lower', ['email']), 'in', emails))
          .execute()
      : [];
    const memberBy = new Map(members.map((m) => [m.email.toLowerCase(), m.id]));

    for (const item of items) {
      const remoteId = remoteIdOf(item.key);
      const old = previous.get(remoteId);
      if (item.deleted) {
        if (old) {
          await tx.deleteFrom('imported_contact_sources').where('connection_id', '=', connection.id).where('remote_id', '=', remoteId).execute();
          touched.add(old);
        }
        continue;
      }
      const f = item.fields as unknown as ImportedContactFields;
      const now = new Date();
      const contact = await tx
        .insertInto('imported_contacts')
        .values({
          connection_id: connection.id,
          organization_id: connection.organizationId,
          user_id: connection.userId,
          person_key: personKey(remoteId, f),
          display_name: f.name,
          emails: JSON.stringify(f.emails),
          company: f.company,
          job_title: f.jobTitle,
          phones: JSON.stringify(f.phones),
          matched_user_id: f.emails.map((e) => memberBy.get(e)).find(Boolean) ?? null,
        })
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
        .returning('id')
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('imported_contact_sources')
        .values({ connection_id: connection.id, remote_id: remoteId, contact_id: contact.id })
        .onConflict((oc) => oc.columns(['connection_id', 'remote_id']).doUpdateSet({ contact_id: contact.id, updated_at: now }))
        .execute();
      // The item now names another person (its first address changed): the old one may be orphaned.
      if (old && old !== contact.id) touched.add(old);
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
