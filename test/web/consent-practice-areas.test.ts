import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, type SeededOrg, seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { eventItem } from '../sync/support/env.ts';

/**
 * The practice-area case scope on the generic consent screen (until now API only): offered with the
 * practice areas of the user's own cases (each once, case-insensitively), the preview limited to
 * them, the consent recorded with that scope (method `consent_screen`), an empty choice refused with
 * 400 `empty_case_scope`, and the Change page offering it again.
 */
describe('consent screen: practice-area scope', () => {
  let t: TestServices;
  let org: SeededOrg;
  let member: Record<string, string>;

  const html = { accept: 'text/html' };
  const get = (path: string) => t.app.request(path, { headers: { cookie: member.cookie!, ...html } });
  const post = (path: string, body: Record<string, string | string[]>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
    params.append('_csrf', member['x-csrf-token']!);
    return t.app.request(path, {
      method: 'POST',
      headers: { cookie: member.cookie!, 'content-type': 'application/x-www-form-urlencoded', ...html },
      body: params.toString(),
    });
  };
  const areasOf = (page: string) => [...page.matchAll(/name="practiceAreas" value="([^"]+)"/g)].map((m) => m[1]);
  const totalOf = (page: string) => Number(/id="preview-summary" data-total="(\d+)"/.exec(page)?.[1] ?? 0);

  beforeAll(async () => {
    t = await createTestServices({ SANDBOX_URL: 'http://127.0.0.1:9' });
    org = await seedOrg(t.services, 'Practice Area Firm');
    member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const kase = (id: string, practiceArea: string, assignees: string[]) => ({
      op: 'upsert',
      type: 'case',
      externalId: id,
      data: { number: `PA-${id}`, title: `Case ${id}`, practiceArea, assignees },
    });
    const res = await t.app.request('/v1/ingest/bulk', {
      method: 'POST',
      headers: { ...bearer(org.apiKey), 'content-type': 'application/json' },
      body: JSON.stringify({
        items: [
          kase('fam', 'Family', [org.member.email]),
          kase('fam2', ' family ', [org.member.email]),
          kase('tax', 'Tax', [org.member.email]),
          // Not the member's: its area is not offered.
          kase('ip', 'Patents', [org.admin.email]),
          eventItem('fam', 1),
          eventItem('fam2', 2),
          eventItem('tax', 3),
          eventItem('tax', 4),
          eventItem('tax', 5),
        ],
      }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  });
  afterAll(async () => t?.cleanup());

  it('offers the practice areas of the user’s own cases, each once', async () => {
    const page = await (await get('/apps/connect/google_calendar')).text();
    expect(areasOf(page)).toEqual(['Family', 'Tax']);
    expect(page).toContain('id="scope-areas"');
    expect(totalOf(page)).toBe(5);
  });

  it('previews only the chosen practice areas (case-insensitively)', async () => {
    const q = new URLSearchParams([
      ['categories', 'calendar.events'],
      ['scope', 'practice_areas'],
      ['practiceAreas', 'FAMILY'],
    ]);
    const fragment = await (await get(`/apps/connect/google_calendar/preview?${q}`)).text();
    expect(totalOf(fragment)).toBe(2);
    const page = await (await get(`/apps/connect/google_calendar?${q}`)).text();
    expect(totalOf(page)).toBe(2);
    expect(page).toMatch(/id="scope-areas"[^>]*checked/);
    expect(page).toMatch(/value="Family" checked/);
  });

  it('refuses an empty practice-area choice with 400 empty_case_scope and writes nothing', async () => {
    const res = await post('/apps/connect/google_calendar', { categories: 'calendar.events', scope: 'practice_areas', policyVersion: '2026-11-01' });
    expect(res.status).toBe(400);
    expect(/data-error-code="([a-z_]+)"/.exec(await res.text())?.[1]).toBe('empty_case_scope');
    expect(await t.services.db.selectFrom('connections').select('id').execute()).toEqual([]);
  });

  it('records the consent with the practice-area scope (method consent_screen), and the Change page offers it again', async () => {
    const res = await post('/apps/connect/google_calendar', {
      categories: 'calendar.events',
      scope: 'practice_areas',
      practiceAreas: ['Tax', 'tax '],
      policyVersion: '2026-11-01',
    });
    expect(res.status, await res.clone().text()).toBe(303);
    const consent = await t.services.db.selectFrom('consents').select(['connection_id', 'method', 'case_scope']).executeTakeFirstOrThrow();
    expect(consent.method).toBe('consent_screen');
    expect(consent.case_scope).toEqual({ kind: 'practice_areas', practiceAreas: ['Tax'] });
    const change = await (await get(`/apps/${consent.connection_id}/change`)).text();
    expect(areasOf(change)).toEqual(['Family', 'Tax']);
    expect(change).toMatch(/id="scope-areas"[^>]*checked/);
    expect(totalOf(change)).toBe(3);
  });
});
