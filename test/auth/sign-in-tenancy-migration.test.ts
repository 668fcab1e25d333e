import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0011 from '../../src/db/migrations/0011-signin-tenancy.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/** Upgrading: domains organizations already admitted become pending claims, one owner per domain. */
describe('migration 0011 (sign-in tenancy)', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('turns admitted domains into pending claims, the first organization keeping a contested one', async () => {
    const raw = t.services.db as unknown as Kysely<unknown>;
    await m0011.down(raw);
    const first = await seedOrg(t.services, 'First Firm');
    const second = await seedOrg(t.services, 'Second Firm');
    const setDomains = (id: string, domains: unknown) =>
      t.services.db
        .updateTable('organizations')
        .set({ settings: JSON.stringify({ allowedGoogleDomains: domains }) })
        .where('id', '=', id)
        .execute();
    await t.services.db
      .updateTable('organizations')
      .set({ created_at: new Date(Date.now() - 60_000) })
      .where('id', '=', first.organizationId)
      .execute();
    await setDomains(first.organizationId, ['First.example', 'shared.example']);
    await setDomains(second.organizationId, ['shared.example', 'second.example']);
    await m0011.up(raw);

    const claims = await t.services.db.selectFrom('google_domains').select(['domain', 'organization_id', 'status']).orderBy('domain').execute();
    expect(claims).toEqual([
      { domain: 'first.example', organization_id: first.organizationId, status: 'pending' },
      { domain: 'second.example', organization_id: second.organizationId, status: 'pending' },
      { domain: 'shared.example', organization_id: first.organizationId, status: 'pending' },
    ]);
  });
});
