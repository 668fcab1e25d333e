
import { createTestServices } from '/work/main/test/support/services.ts';
import { seedOrg, bearer } from '/work/main/test/support/fixtures.ts';

  const t = await createTestServices();
  const o = await seedOrg(t.services);
  const h = { ...bearer(o.apiKey), 'content-type': 'application/json' };
  const doc = await t.app.request('/openapi.json');
  console.log(doc.status);
  let r = await t.app.request('/v1/ingest/cases/c1', { method: 'PUT', headers: h, body: JSON.stringify({ number: 'N1', title: 'T', assignees: ['B@x.example', 'a@x.example'] }) });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/cases/c1', { method: 'PUT', headers: h, body: JSON.stringify({ number: 'N1', title: 'T', assignees: ['a@x.example', 'b@x.example'] }) });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/events/e1', { method: 'PUT', headers: h, body: JSON.stringify({ caseExternalId: 'c1', kind: 'meeting', title: 'M', start: '2025-03-01T10:00:00Z', end: '2025-03-01T11:00:00+01:00', timeZone: 'europe/berlin' }) });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/events/e2', { method: 'PUT', headers: h, body: JSON.stringify({ caseExternalId: 'c1', kind: 'meeting', title: 'M', start: '2025-03-01T10:00:00Z', end: '2025-03-01T09:00:00Z', timeZone: 'Mars/Base' }) });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/events/e3', { method: 'PUT', headers: h, body: JSON.stringify({ caseExternalId: 'nope', kind: 'deadline', title: 'SOL', allDay: true, startDate: '2025-03-01' }) });
  console.log(r.status, await r.text());
  const fd = new FormData();
  fd.append('metadata', JSON.stringify({ caseExternalId: 'c1', title: 'Letter', fileName: 'letter.txt' }));
  fd.append('file', new Blob(['hello world'], { type: 'text/plain' }), 'letter.txt');
  r = await t.app.request('/v1/ingest/documents/d1', { method: 'PUT', headers: bearer(o.apiKey), body: fd });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/cases/c1', { method: 'DELETE', headers: { ...h, 'if-match': '"1"' } });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/cases/c1', { method: 'DELETE', headers: { ...h } });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/events/e1', { method: 'GET', headers: { ...h } });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/bulk', { method: 'POST', headers: h, body: JSON.stringify({ items: [
    { op: 'upsert', type: 'case', externalId: 'c2', data: { number: 'N2', title: 'T2' } },
    { op: 'upsert', type: 'event', externalId: 'e9', data: { caseExternalId: 'c2', kind: 'reminder', title: 'R', allDay: true, startDate: '2025-01-01', endDate: '2025-01-02' } },
    { op: 'upsert', type: 'contact', externalId: 'k1', data: { name: 'K', emails: ['K@x.example'], phones: ['+1 312 555 0100'] } },
    { op: 'delete', type: 'event', externalId: 'zz' },
  ] }) });
  console.log(r.status, await r.text());
  r = await t.app.request('/v1/ingest/bulk', { method: 'POST', headers: h, body: JSON.stringify({ items: [
    { op: 'upsert', type: 'case', externalId: 'c3', data: { number: 'N2' } },
    { op: 'upsert', type: 'evnt', externalId: 'e9' },
  ] }) });
  console.log(r.status, await r.text());
  await t.cleanup();

