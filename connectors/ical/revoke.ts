import { sql } from 'kysely';
import type { Tx } from '../../src/db/database.ts';
import type { RevokeContext, RevokeStepResult } from '../types.ts';

/**
 * Revocation of an iCal connection: there is no provider to call — the feed token is the
 * credential, so invalidating it is the revocation. From the moment `revoked_at` is set the public
 * endpoint answers 404 (its lookup only matches live feeds). Copies already in subscribers'
 * calendars cannot be removed from here: a calendar app keeps its last copy when the feed
 * disappears, which the receipt says instead of pretending.
 */
export async function revokeIcal(ctx: RevokeContext): Promise<RevokeStepResult[]> {
  const res = await ctx.services.db
    .updateTable('ical_feeds')
    .set({ revoked_at: sql`now()` })
    .where('connection_id', '=', ctx.connection.id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  const invalidated = Number(res.numUpdatedRows);
  const steps: RevokeStepResult[] = [
    {
      step: 'invalidate_feed_token',
      result: 'done',
      // The revocation request itself invalidates the token before it answers; this step confirms it.
      detail: invalidated ? 'the feed URL now answers 404' : 'the feed URL answers 404 (token invalidated when the revocation was requested)',
    },
  ];
  if (ctx.purgeRemote) {
    steps.push({
      step: 'purge_remote',
      result: 'not_supported',
      detail: 'subscribed calendar apps keep their last copy of a feed; they stop receiving updates',
    });
  }
  return steps;
}

/** The feed token dies with the revocation's commit (the public route also requires an active connection). */
export async function revokeIcalFeedTokens(tx: Tx, params: { connectionIds: string[]; at: Date }): Promise<void> {
  await tx
    .updateTable('ical_feeds')
    .set({ revoked_at: params.at })
    .where('connection_id', 'in', params.connectionIds)
    .where('revoked_at', 'is', null)
    .execute();
}
