import { createApiKey } from '../../src/auth/api-keys.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../../src/auth/sessions.ts';
import type { Services } from '../../src/services.ts';

export interface SeededOrg {
  organizationId: string;
  apiKey: string;
  admin: { id: string; email: string };
  member: { id: string; email: string };
}

/** An organization with an API key, an admin and a member. */
export async function seedOrg(services: Services, name = 'Test Firm'): Promise<SeededOrg> {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const org = await services.db
    .insertInto('organizations')
    .values({ name, settings: JSON.stringify({}) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const { apiKey } = await createApiKey(services.db, { organizationId: org.id, name: 'test' });
  const [admin, member] = await services.db
    .insertInto('users')
    .values([
      { organization_id: org.id, email: `admin@${slug}.example`, name: 'Ada Admin', role: 'admin', picture_url: null },
      { organization_id: org.id, email: `member@${slug}.example`, name: 'Max Member', role: 'member', picture_url: null },
    ])
    .returning(['id', 'email'])
    .execute();
  return { organizationId: org.id, apiKey, admin: admin!, member: member! };
}

/** Request headers of a signed-in user: session cookie and CSRF token. */
export async function signInAs(services: Services, user: { id: string; organizationId: string; role: 'member' | 'admin' }): Promise<Record<string, string>> {
  const { id, session } = await services.sessions.create({
    userId: user.id,
    organizationId: user.organizationId,
    role: user.role,
    method: 'test',
  });
  return { cookie: `${SESSION_COOKIE}=${id}`, [CSRF_HEADER]: session.csrfToken };
}

/** Bearer header for an API key. */
export const bearer = (apiKey: string): Record<string, string> => ({ authorization: `Bearer ${apiKey}` });
