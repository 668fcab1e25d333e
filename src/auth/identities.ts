import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import type { OrganizationSettings } from '../db/types.ts';
import { SignInError } from './sign-in-error.ts';

/**
 * From a verified external login to a Casebridge user. Identities are namespaced by
 * (provider, issuer, subject); a new identity is linked to an existing user by verified e-mail only
 * inside one organization and only when that organization allows it, or provisioned just in time
 * when its policy says so. Only e-mail, name and picture URL are kept; the names of everything the
 * authenticator sent are recorded per login.
 */

export interface ExternalLogin {
  provider: 'google' | 'saml';
  issuer: string;
  subject: string;
  /** The e-mail the authenticator vouched for (callers pass only verified addresses). */
  email: string | null;
  name: string | null;
  picture: string | null;
  /** Names of every claim or attribute received, for the login record. */
  receivedAttributes: string[];
}

export interface ResolvedLogin {
  userId: string;
  organizationId: string;
  role: 'member' | 'admin';
  identityId: string;
  email: string;
  /** How the identity was matched. */
  via: 'identity' | 'linked_by_email' | 'provisioned' | 'sign_in_link';
}

interface OrgRow {
  id: string;
  settings: OrganizationSettings;
}

interface UserRow {
  id: string;
  organization_id: string;
  email: string;
  role: 'member' | 'admin';
  status: 'active' | 'disabled';
}

const normalizeEmail = (email: string): string => email.trim().toLowerCase();

/** Whether the organization admits a Google account of this Workspace domain (`hd`). */
export function googleDomainAllowed(settings: OrganizationSettings, hd: string | null): boolean {
  const allowed = (settings.allowedGoogleDomains ?? []).map((d) => d.toLowerCase());
  if (allowed.length === 0) return true;
  return hd !== null && allowed.includes(hd.toLowerCase());
}

async function findIdentity(db: Db | Tx, login: ExternalLogin) {
  return db
    .selectFrom('identities')
    .select(['id', 'user_id', 'organization_id'])
    .where('provider', '=', login.provider)
    .where('issuer', '=', login.issuer)
    .where('subject', '=', login.subject)
    .executeTakeFirst();
}

async function loadOrg(db: Db | Tx, id: string): Promise<OrgRow | undefined> {
  return db.selectFrom('organizations').select(['id', 'settings']).where('id', '=', id).executeTakeFirst();
}

async function loadUser(db: Db | Tx, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').select(['id', 'organization_id', 'email', 'role', 'status']).where('id', '=', id).executeTakeFirst();
}

async function userByEmail(db: Db | Tx, organizationId: string, email: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .select(['id', 'organization_id', 'email', 'role', 'status'])
    .where('organization_id', '=', organizationId)
    .where(sql<string>`lower(email)`, '=', normalizeEmail(email))
    .executeTakeFirst();
}

/**
 * Links to the organization's user with this e-mail when the policy allows it, or provisions one.
 * Throws the reason when neither is allowed.
 */
async function linkOrProvision(tx: Tx, org: OrgRow, login: ExternalLogin): Promise<{ user: UserRow; via: ResolvedLogin['via'] }> {
  if (!login.email) {
    throw new SignInError('email_missing', 'the authenticator sent no verified e-mail address', { organizationId: org.id });
  }
  const existing = await userByEmail(tx, org.id, login.email);
  if (existing) {
    if (!org.settings.linkByEmail) {
      throw new SignInError(
        'account_not_linked',
        'a user with this e-mail exists, but the organization does not link new sign-in methods by e-mail',
        { organizationId: org.id, userId: existing.id, status: 403 },
      );
    }
    return { user: existing, via: 'linked_by_email' };
  }
  if (!org.settings.jitProvisioning) {
    throw new SignInError('account_not_provisioned', 'no user with this e-mail exists in the organization', {
      organizationId: org.id,
      status: 403,
    });
  }
  const user = await tx
    .insertInto('users')
    .values({
      organization_id: org.id,
      email: normalizeEmail(login.email),
      name: login.name,
      picture_url: login.picture,
      role: org.settings.defaultRole === 'admin' ? 'admin' : 'member',
    })
    .returning(['id', 'organization_id', 'email', 'role', 'status'])
    .executeTakeFirstOrThrow();
  return { user, via: 'provisioned' };
}

/**
 * Upserts the identity, refreshes the kept profile values and writes the login record (exported for
 * sign-in links, which choose the user themselves).
 */
export async function recordLogin(tx: Tx, user: UserRow, login: ExternalLogin, via: ResolvedLogin['via']): Promise<ResolvedLogin> {
  if (user.status !== 'active') {
    throw new SignInError('user_disabled', 'this user has been disabled by an administrator', {
      organizationId: user.organization_id,
      userId: user.id,
      status: 403,
    });
  }
  const now = new Date();
  await tx
    .insertInto('identities')
    .values({
      organization_id: user.organization_id,
      user_id: user.id,
      provider: login.provider,
      issuer: login.issuer,
      subject: login.subject,
      email: login.email ? normalizeEmail(login.email) : null,
      last_login_at: now,
    })
    .onConflict((oc) => oc.columns(['provider', 'issuer', 'subject']).doNothing())
    .execute();
  const identity = await findIdentity(tx, login);
  if (!identity || identity.user_id !== user.id) {
    throw new SignInError('sign_in_conflict', 'this sign-in raced with another one; please try again', { status: 409 });
  }
  await tx
    .updateTable('identities')
    .set({ last_login_at: now, email: login.email ? normalizeEmail(login.email) : null })
    .where('id', '=', identity.id)
    .execute();
  const updates: { name?: string; picture_url?: string; updated_at: Date } = { updated_at: now };
  if (login.name) updates.name = login.name;
  if (login.picture) updates.picture_url = login.picture;
  await tx.updateTable('users').set(updates).where('id', '=', user.id).execute();
  await tx
    .insertInto('login_records')
    .values({
      organization_id: user.organization_id,
      user_id: user.id,
      identity_id: identity.id,
      provider: login.provider,
      received_attributes: JSON.stringify([...new Set(login.receivedAttributes)].sort()),
      kept: JSON.stringify({ email: login.email, name: login.name, picture: login.picture }),
    })
    .execute();
  return {
    userId: user.id,
    organizationId: user.organization_id,
    role: user.role,
    identityId: identity.id,
    email: user.email,
    via,
  };
}

/**
 * Google: the identity when known; else the one organization whose allowed Workspace domains
 * contain the token's `hd` (link or provision per its policy); else a user with this verified
 * e-mail in exactly one organization that allows linking by e-mail. `organizationHint` (from
 * `/auth/google/start?org=`) narrows the choice; it never widens it.
 */
export async function resolveGoogleLogin(
  db: Db,
  login: ExternalLogin & { hd: string | null },
  options: { organizationHint?: string } = {},
): Promise<ResolvedLogin> {
  return db.transaction().execute(async (tx) => {
    const identity = await findIdentity(tx, login);
    if (identity) {
      const org = (await loadOrg(tx, identity.organization_id))!;
      if (!googleDomainAllowed(org.settings, login.hd)) throw domainRefused(org.id, login.hd);
      const user = (await loadUser(tx, identity.user_id))!;
      return recordLogin(tx, user, login, 'identity');
    }
    if (!login.email) throw new SignInError('email_missing', 'the Google account sent no verified e-mail address');

    const hd = login.hd?.toLowerCase() ?? null;
    let domainOrgs: OrgRow[] = [];
    if (hd) {
      domainOrgs = await tx
        .selectFrom('organizations')
        .select(['id', 'settings'])
        .where(sql<boolean>`settings -> 'allowedGoogleDomains' @> ${JSON.stringify([hd])}::jsonb`)
        .execute();
      if (options.organizationHint) domainOrgs = domainOrgs.filter((o) => o.id === options.organizationHint);
    }
    if (domainOrgs.length > 1) {
      throw new SignInError('organization_ambiguous', 'several organizations admit this Google Workspace domain; sign in from your organization\'s link', {
        status: 409,
      });
    }
    if (domainOrgs.length === 1) {
      const { user, via } = await linkOrProvision(tx, domainOrgs[0]!, login);
      return recordLogin(tx, user, login, via);
    }

    let candidates = await tx
      .selectFrom('users')
      .innerJoin('organizations', 'organizations.id', 'users.organization_id')
      .select(['users.id as userId', 'organizations.id as orgId', 'organizations.settings as settings'])
      .where(sql<string>`lower(users.email)`, '=', normalizeEmail(login.email))
      .execute();
    if (options.organizationHint) candidates = candidates.filter((c) => c.orgId === options.organizationHint);
    const linkable = candidates.filter((c) => c.settings.linkByEmail);
    if (linkable.length > 1) {
      throw new SignInError('organization_ambiguous', 'this e-mail belongs to users of several organizations; sign in from your organization\'s link', {
        status: 409,
      });
    }
    const match = linkable[0];
    if (!match) {
      const only = candidates.length === 1 ? candidates[0] : undefined;
      throw new SignInError(
        candidates.length ? 'account_not_linked' : 'account_not_provisioned',
        candidates.length
          ? 'a user with this e-mail exists, but the organization does not link new sign-in methods by e-mail'
          : 'no organization knows this Google account',
        { status: 403, organizationId: only?.orgId ?? null, userId: only?.userId ?? null },
      );
    }
    if (!googleDomainAllowed(match.settings, hd)) throw domainRefused(match.orgId, hd);
    const user = (await loadUser(tx, match.userId))!;
    return recordLogin(tx, user, login, 'linked_by_email');
  });
}

function domainRefused(organizationId: string, hd: string | null): SignInError {
  return new SignInError('oidc_domain_not_allowed', 'this Google account is not in a Workspace domain the organization allows', {
    organizationId,
    status: 403,
    details: { hd },
  });
}

/**
 * SAML: the organization is fixed by the ACS URL. A known identity must belong to it; a new one is
 * linked or provisioned per the organization's policy.
 */
export async function resolveSamlLogin(db: Db, login: ExternalLogin, organizationId: string): Promise<ResolvedLogin> {
  return db.transaction().execute(async (tx) => {
    const org = await loadOrg(tx, organizationId);
    if (!org) throw new SignInError('saml_not_configured', 'unknown organization', { status: 400 });
    const identity = await findIdentity(tx, login);
    if (identity) {
      if (identity.organization_id !== organizationId) {
        throw new SignInError('identity_in_other_organization', 'this identity belongs to another organization', {
          organizationId,
          status: 403,
        });
      }
      const user = (await loadUser(tx, identity.user_id))!;
      return recordLogin(tx, user, login, 'identity');
    }
    const { user, via } = await linkOrProvision(tx, org, login);
    return recordLogin(tx, user, login, via);
  });
}
