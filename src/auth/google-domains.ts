import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import { type KeysetCursor, type KeysetSpec, keysetSql, nextKeysetCursor } from '../db/page-cursor.ts';
import type { OrganizationSettings } from '../db/types.ts';
import { CasebridgeError } from '../errors/index.ts';

/**
 * Ownership of Google Workspace domains. A domain an organization admits (`allowedGoogleDomains`)
 * is also a claim: at most one organization holds a domain (case-insensitive), and only once the
 * deployment's super administrator has verified the claim does the domain route sign-ins — link
 * or provision a Google account of that `hd` into the organization. An unverified or missing claim
 * still restricts the organization's own users to its domains; it just captures nobody.
 */

export type GoogleDomainStatus = 'pending' | 'verified';

export interface GoogleDomainClaim {
  domain: string;
  organizationId: string;
  organizationName: string;
  status: GoogleDomainStatus;
  createdAt: Date;
  verifiedAt: Date | null;
}

/** An organization tried to admit a domain another organization holds. */
export class DomainClaimedError extends CasebridgeError {
  constructor(readonly domain: string) {
    super('domain_claimed', `the Google Workspace domain ${domain} belongs to another organization`, { domain });
  }
}

/** The organization whose verified claim holds this domain, or null. */
export async function verifiedGoogleDomainOwner(db: Db | Tx, domain: string): Promise<string | null> {
  const row = await db
    .selectFrom('google_domains')
    .select('organization_id')
    .where('domain', '=', domain.toLowerCase())
    .where('status', '=', 'verified')
    .executeTakeFirst();
  return row?.organization_id ?? null;
}

/**
 * Brings the organization's claims in line with a change of its admitted domains, inside the
 * caller's transaction: a newly admitted domain becomes a pending claim (DomainClaimedError when
 * another organization holds it), a domain no longer admitted releases the organization's claim.
 * Domains admitted before and after are left as they are.
 */
export async function syncGoogleDomainClaims(tx: Tx, params: { organizationId: string; before: string[]; after: string[] }): Promise<void> {
  const before = new Set(params.before.map((d) => d.toLowerCase()));
  const after = new Set(params.after.map((d) => d.toLowerCase()));
  const removed = [...before].filter((d) => !after.has(d));
  if (removed.length) {
    await tx.deleteFrom('google_domains').where('organization_id', '=', params.organizationId).where('domain', 'in', removed).execute();
  }
  for (const domain of [...after].filter((d) => !before.has(d))) {
    // Insert-or-nothing, then read the owner: two organizations racing for one domain meet on the
    // primary key, and exactly one of them holds it afterwards.
    await tx
      .insertInto('google_domains')
      .values({ domain, organization_id: params.organizationId })
      .onConflict((oc) => oc.column('domain').doNothing())
      .execute();
    const owner = await tx.selectFrom('google_domains').select('organization_id').where('domain', '=', domain).executeTakeFirstOrThrow();
    if (owner.organization_id !== params.organizationId) throw new DomainClaimedError(domain);
  }
}

/** The claims of one organization, by domain (for its administrators' view of the policy). */
export async function googleDomainClaimsOf(db: Db | Tx, organizationId: string): Promise<Array<{ domain: string; status: GoogleDomainStatus }>> {
  return db.selectFrom('google_domains').select(['domain', 'status']).where('organization_id', '=', organizationId).orderBy('domain').execute();
}

/** Every claim (optionally of one status), oldest first, for the super administrator. */
export async function listGoogleDomainClaims(db: Db, filter: { status?: GoogleDomainStatus } = {}): Promise<GoogleDomainClaim[]> {
  let q = claims(db).orderBy('google_domains.created_at').orderBy('google_domains.domain');
  if (filter.status) q = q.where('google_domains.status', '=', filter.status);
  return (await q.execute()).map(toClaim);
}

/** The cursor of the claims list: oldest first by the claim's time, the domain breaking ties. */
export const CLAIM_CURSOR: KeysetSpec<'time'> = { sort: 'time', key: /^[a-z0-9.-]{1,253}$/ };

/** One page of {@link listGoogleDomainClaims}, oldest first, after `cursor`. */
export async function googleDomainClaimsPage(
  db: Db,
  params: { status?: GoogleDomainStatus | undefined; limit: number; cursor: KeysetCursor<Date> | null },
): Promise<{ items: GoogleDomainClaim[]; nextCursor: string | null }> {
  const keyset = keysetSql({
    sort: sql.raw(`date_trunc('milliseconds', google_domains.created_at)`),
    key: sql.ref('google_domains.domain'),
    sortType: 'timestamptz',
    keyType: 'text',
    direction: 'asc',
  });
  let q = claims(db)
    .orderBy(keyset.orderBy[0])
    .orderBy(keyset.orderBy[1])
    .limit(params.limit + 1);
  if (params.status) q = q.where('google_domains.status', '=', params.status);
  if (params.cursor) q = q.where(keyset.after(params.cursor));
  const rows = (await q.execute()).map(toClaim);
  return { items: rows.slice(0, params.limit), nextCursor: nextKeysetCursor(rows, params.limit, (c) => ({ sort: c.createdAt, key: c.domain })) };
}

function claims(db: Db) {
  return db
    .selectFrom('google_domains')
    .innerJoin('organizations', 'organizations.id', 'google_domains.organization_id')
    .select([
      'google_domains.domain',
      'google_domains.organization_id',
      'organizations.name',
      'google_domains.status',
      'google_domains.created_at',
      'google_domains.verified_at',
    ]);
}

function toClaim(r: {
  domain: string;
  organization_id: string;
  name: string;
  status: GoogleDomainStatus;
  created_at: Date;
  verified_at: Date | null;
}): GoogleDomainClaim {
  return {
    domain: r.domain,
    organizationId: r.organization_id,
    organizationName: r.name,
    status: r.status,
    createdAt: r.created_at,
    verifiedAt: r.verified_at,
  };
}

/**
 * Verifies a claim (the super administrator checked that the organization owns the domain).
 * Returns the claim and whether it changed; null when no organization claims the domain.
 */
export async function approveGoogleDomain(db: Db, domain: string): Promise<{ claim: GoogleDomainClaim; changed: boolean } | null> {
  const name = domain.toLowerCase();
  const updated = await db
    .updateTable('google_domains')
    .set({ status: 'verified', verified_at: new Date() })
    .where('domain', '=', name)
    .where('status', '=', 'pending')
    .returning('domain')
    .executeTakeFirst();
  const claim = (await listGoogleDomainClaims(db)).find((c) => c.domain === name);
  return claim ? { claim, changed: Boolean(updated) } : null;
}

/**
 * Refuses (or withdraws) a claim: the claim is deleted and the domain leaves the organization's
 * admitted domains, so another organization can claim it. Returns the former owner, or null.
 */
export async function releaseGoogleDomain(db: Db, domain: string): Promise<{ organizationId: string; status: GoogleDomainStatus } | null> {
  const name = domain.toLowerCase();
  return db.transaction().execute(async (tx) => {
    const claim = await tx.deleteFrom('google_domains').where('domain', '=', name).returning(['organization_id', 'status']).executeTakeFirst();
    if (!claim) return null;
    const org = await tx.selectFrom('organizations').select('settings').where('id', '=', claim.organization_id).forUpdate().executeTakeFirstOrThrow();
    const next: OrganizationSettings = {
      ...org.settings,
      allowedGoogleDomains: (org.settings.allowedGoogleDomains ?? []).filter((d) => d.toLowerCase() !== name),
    };
    await tx
      .updateTable('organizations')
      .set({ settings: JSON.stringify(next), updated_at: new Date() })
      .where('id', '=', claim.organization_id)
      .execute();
    return { organizationId: claim.organization_id, status: claim.status };
  });
}
