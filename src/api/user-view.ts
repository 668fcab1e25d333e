import type { UserView } from '../auth/users.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A user of the organization as the API shows it (`User`, src/api/schemas/users.ts): times as ISO strings. */
export function userView(u: UserView) {
  return {
    ...u,
    createdAt: u.createdAt.toISOString(),
    lastLoginAt: iso(u.lastLoginAt),
    identities: u.identities.map((i) => ({ ...i, lastLoginAt: iso(i.lastLoginAt) })),
  };
}
