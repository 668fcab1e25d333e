import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyCommands } from '../../src/cli/key-commands.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { parseKeyring, TokenVault } from '../../src/connections/token-vault.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/** `casebridge keys rotate`: every stored token re-encrypted under the newest key, old keys then removable. */

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
let t: TestServices;
const ids: string[] = [];

beforeAll(async () => {
  t = await createTestServices({ TOKEN_ENCRYPTION_KEYS: k1 });
  const org = await seedOrg(t.services);
  for (let i = 0; i < 3; i++) {
    const row = await t.services.db
      .insertInto('connections')
      .values({
        organization_id: org.organizationId,
        user_id: org.member.id,
        platform: 'google_calendar',
        status: 'active',
        settings: '{}',
        last_error: 'null',
        sync_progress: 'null',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    ids.push(row.id);
    await vaultFor(t.services).save(row.id, { accessToken: `at-${i}`, refreshToken: `rt-${i}`, expiresAt: null, obtainedAt: Date.now(), scope: null });
  }
});
afterAll(async () => t.cleanup());

describe('keys rotate', () => {
  it('re-encrypts every token under the newest key; the old key can then be dropped', async () => {
    const lines: string[] = [];
    const config = { ...t.services.config, TOKEN_ENCRYPTION_KEYS: `${k2},${k1}` };
    const code = await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => lines.push(l) });
    expect(code).toBe(0);
    expect(lines[0]).toBe('3 token record(s) re-encrypted under key "k2" (3 stored)');
    const rows = await t.services.db.selectFrom('connection_tokens').select(['key_id']).execute();
    expect(rows.map((r) => r.key_id)).toEqual(['k2', 'k2', 'k2']);
    const onlyNew = new TokenVault(t.services.db, parseKeyring(k2));
    for (const [i, id] of ids.entries()) expect((await onlyNew.load(id))!.refreshToken).toBe(`rt-${i}`);
    await expect(new TokenVault(t.services.db, parseKeyring(k1)).load(ids[0]!)).rejects.toThrow(/"k2"/);
    // Running again has nothing to do.
    const again: string[] = [];
    await keyCommands[0]!.run({ args: {}, positionals: [], config, services: { ...t.services, config }, print: (l) => again.push(l) });
    expect(again[0]).toMatch(/^0 token record/);
  });
});
