import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/** `GET /v1/invitations` pages with a keyset cursor like every other list (it used to be one page, `nextCursor: null`). */
describe('the invitations list, page by page', () => {
  let t: TestServices;
  let headers: Record<string, string>;
  const sent: string[] = [];

  beforeAll(async () => {
    t = await createTestServices();
    const org = await seedOrg(t.services, 'Paging LLP');
    const other = await seedOrg(t.services, 'Other LLP');
    headers = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    // Seven invitations a second apart, two sharing one instant (the id breaks the tie), and one by another firm's user.
    const base = Date.parse('2026-03-02T14:00:00.000Z');
    const rows = Array.from({ length: 7 }, (_, i) => ({
      organization_id: org.organizationId,
      inviter_user_id: org.member.id,
      email: `client${i}@paging.example`,
      channel: 'smtp' as const,
      status: 'sent' as const,
      token_hash: `hash-${i}`,
      expires_at: new Date(base + 7 * 86_400_000),
      created_at: new Date(base + Math.min(i, 5) * 1000),
    }));
    const inserted = await t.services.db.insertInto('contact_invitations').values(rows).returning(['id', 'created_at']).execute();
    sent.push(...inserted.sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1)).map((r) => r.id));
    await t.services.db
      .insertInto('contact_invitations')
      .values({ ...rows[0]!, organization_id: other.organizationId, inviter_user_id: other.member.id, token_hash: 'hash-other' })
      .execute();
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const page = async (query: string) => {
    const res = await t.app.request(`/v1/invitations${query}`, { headers });
    return { status: res.status, body: (await res.json()) as { items: Array<{ id: string }>; nextCursor: string | null; error?: { code: string } } };
  };

  it('walks every invitation once, newest first, three at a time', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body } = await page(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(status).toBe(200);
      expect(body.items.length).toBeLessThanOrEqual(3);
      seen.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(sent);
  });

  it('answers one page with no next cursor when everything fits', async () => {
    const { body } = await page('');
    expect(body.items.map((i) => i.id)).toEqual(sent);
    expect(body.nextCursor).toBeNull();
  });

  it('refuses a forged cursor and a limit out of range with a 400', async () => {
    expect((await page('?cursor=not-a-cursor')).body.error?.code).toBe('invalid_cursor');
    expect((await page('?limit=0')).status).toBe(400);
  });
});
