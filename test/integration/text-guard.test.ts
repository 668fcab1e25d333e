import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * Text PostgreSQL cannot store (NUL, unpaired surrogates) is refused with a 400 naming where it was,
 * on every route, before anything is written — it used to surface as a 500 from the database.
 */
describe('text the database cannot store', () => {
  let t: TestServices;
  let org: SeededOrg;
  let member: Record<string, string>;
  let admin: Record<string, string>;

  beforeAll(async () => {
    t = await createTestServices();
    org = await seedOrg(t.services, 'Text Firm');
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
  });
  afterAll(async () => t.cleanup());

  // Written by hand: JSON.stringify would escape the backslashes of the test's own escapes.
  const post = (path: string, headers: Record<string, string>, rawJson: string) =>
    t.app.request(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: rawJson });
  const feedBody = (name: string) => `{"name":"${name}","categories":["calendar.events"],"caseScope":{"kind":"all"}}`;
  const feeds = async () => (await t.services.db.selectFrom('ical_feeds').select('name').execute()).map((r) => r.name);

  it.each([
    ['a NUL character', 'Court\\u0000dates'],
    ['an unpaired high surrogate', 'Court \\ud800 dates'],
    ['an unpaired low surrogate', 'Court \\udc00 dates'],
  ])('refuses %s in a JSON body with 400 invalid_text naming the field, and writes nothing', async (_what, name) => {
    const res = await post('/v1/ical-feeds', member, feedBody(name));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: Array<{ path: string }> } };
    expect(body.error.code).toBe('invalid_text');
    expect(body.error.details).toEqual([{ path: 'name', message: expect.any(String) }]);
    expect(await feeds()).toEqual([]);
  });

  it('names nested paths, and refuses an administrator’s revocation reason the same way (no revocation recorded)', async () => {
    const res = await post('/v1/admin/revocations', admin, `{"target":{"kind":"user","userId":"${org.member.id}"},"reason":["ok","left\\u0000"]}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { details: Array<{ path: string }> } }).error.details[0]!.path).toBe('reason.1');
    expect(await t.services.db.selectFrom('revocations').select('id').execute()).toEqual([]);
  });

  it('refuses %00 in the URL', async () => {
    const res = await t.app.request('/v1/transfers?purpose=a%00b', { headers: admin });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_text');
  });

  it('lets through surrogate pairs and a literal backslash-u-0000 (six ordinary characters)', async () => {
    const res = await post('/v1/ical-feeds', member, feedBody('Smile \\ud83d\\ude00 \\\\u0000'));
    expect(res.status).toBe(201);
    expect(await feeds()).toEqual(['Smile \u{1F600} \\u0000']);
  });

  describe('JSON nested too deeply', () => {
    const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
    const tooDeep = async (res: Response) => {
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('json_too_deep');
    };

    it('refuses a 5,000-level body with 400 json_too_deep before authentication', async () => {
      await tooDeep(await post('/v1/ical-feeds', {}, nested(5_000)));
      await tooDeep(await post('/v1/ical-feeds', {}, nested(5_000, '"\\u0000"')));
      await tooDeep(await post('/auth/logout', {}, `{"a":${nested(5_000)}}`));
    });

    it('refuses it from signed-in users and the ingest API key too, and writes nothing', async () => {
      const before = await feeds();
      await tooDeep(await post('/v1/ical-feeds', member, `{"name":${nested(5_000, '"x"')}}`));
      await tooDeep(await post('/v1/admin/revocations', admin, `{"target":{"kind":"user","userId":"${org.member.id}"},"reason":${nested(5_000)}}`));
      await tooDeep(await post('/v1/ingest/bulk', bearer(org.apiKey), `{"items":${nested(5_000)}}`));
      expect(await feeds()).toEqual(before);
      expect(await t.services.db.selectFrom('revocations').select('id').execute()).toEqual([]);
    });

    it('lets 64 levels through to validation and refuses 65', async () => {
      const at64 = await post('/v1/ical-feeds', member, `{"name":"n","categories":["calendar.events"],"caseScope":{"kind":"all"},"x":${nested(63)}}`);
      expect(at64.status).toBe(201);
      await tooDeep(await post('/v1/ical-feeds', member, `{"name":"n","categories":["calendar.events"],"caseScope":{"kind":"all"},"x":${nested(64)}}`));
    });

    it('does not count brackets inside strings, escaped quotes included', async () => {
      // Seventy brackets (more than the limit) after an escaped quote, in a 72-character name.
      const res = await post('/v1/ical-feeds', member, feedBody(`\\"${'['.repeat(70)}{`));
      expect(res.status).toBe(201);
      expect(await feeds()).toContain(`"${'['.repeat(70)}{`);
    });

    it('refuses a deep metadata part of a multipart document upload', async () => {
      const body = `--b\r\ncontent-disposition: form-data; name="metadata"\r\n\r\n${nested(5_000)}\r\n--b\r\ncontent-disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF\r\n--b--\r\n`;
      const res = await t.app.request('/v1/ingest/documents/d1', {
        method: 'PUT',
        headers: { ...bearer(org.apiKey), 'content-type': 'multipart/form-data; boundary=b' },
        body,
      });
      await tooDeep(res);
    });
  });
});
