import type { RevokeContext, RevokeStepResult } from '../types.ts';

/**
 * Revocation of an Outlook contacts connection, two steps on the receipt:
 *
 * 1. `delete_imported_contacts`: the contacts imported under this connection's consent go with it —
 *    every link to an Outlook item, and every imported contact not yet invited. An invited contact
 *    keeps its invitation (a fact the user acted on, with its own log) and loses only its link to
 *    Outlook. Local, in one transaction; runs again on a retry until it is done.
 * 2. `provider_revoke`: Microsoft offers no endpoint that revokes a delegated grant's tokens. The
 *    stored tokens are shredded (the caller does, after this step), and the receipt says plainly
 *    that nothing was revoked at Microsoft: an access token already issued stays valid until it
 *    expires (about an hour). The delegated grant itself is removed by the user at
 *    https://myapps.microsoft.com or an administrator (Entra admin centre, or
 *    `DELETE /oauth2PermissionGrants/{id}`; see the README).
 */
export async function revokeOutlookContacts(ctx: RevokeContext): Promise<RevokeStepResult[]> {
  return [
    await deleteImportedContacts(ctx),
    {
      step: 'provider_revoke',
      result: 'not_supported',
      detail:
        'Microsoft has no token revocation endpoint: the stored tokens are shredded; an issued access token expires within about an hour; remove the delegated grant in the Microsoft account or Entra admin centre',
    },
  ];
}

async function deleteImportedContacts(ctx: RevokeContext): Promise<RevokeStepResult> {
  const connectionId = ctx.connection.id;
  try {
    const { deleted, unlinked, kept } = await ctx.services.db.transaction().execute(async (tx) => {
      const links = await tx.deleteFrom('imported_contact_sources').where('connection_id', '=', connectionId).executeTakeFirst();
      const gone = await tx.deleteFrom('imported_contacts').where('connection_id', '=', connectionId).where('invited_at', 'is', null).executeTakeFirst();
      const invited = await tx
        .selectFrom('imported_contacts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('connection_id', '=', connectionId)
        .executeTakeFirstOrThrow();
      return { deleted: Number(gone.numDeletedRows), unlinked: Number(links.numDeletedRows), kept: Number(invited.n) };
    });
    return {
      step: 'delete_imported_contacts',
      result: 'done',
      detail: `${deleted} imported contact(s) deleted; ${kept} invited contact(s) keep their invitation without a link to Outlook (${unlinked} Outlook link(s) removed)`,
    };
  } catch (err) {
    return { step: 'delete_imported_contacts', result: 'failed', detail: `imported contacts not deleted: ${(err as Error).message}` };
  }
}
