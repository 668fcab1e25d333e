import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderHttpClient, ProviderRequestError } from '../../src/transfers/clients/http.ts';
import { UngatedTransferError } from '../../src/transfers/gate-scope.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logRows } from './helpers.ts';

describe('gated provider HTTP client', () => {
  let t: TestServices;
  let server: http.Server;
  let baseUrl: string;
  const received: Array<{ method: string; url: string; auth: string | undefined; body: string }> = [];
  beforeAll(async () => {
    t = await createTestServices();
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
        if (req.url?.startsWith('/api/limited')) {
          res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' }).end('{"error":"slow down"}');
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'remote-9' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(async () => {
    server.close();
    await t.cleanup();
  });

  it('refuses to send outside the gate and sends the minimised fields inside it', async () => {
    const client = createProviderHttpClient({ name: 'test', baseUrl, authorize: async () => ({ authorization: 'Bearer secret-token' }) });
    await expect(client.request({ method: 'POST', path: 'items', body: { a: 1 } })).rejects.toBeInstanceOf(UngatedTransferError);
    expect(received).toHaveLength(0);

    const org = await seedOrg(t.services);
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['documents.metadata'] });
    const result = await t.services.gate.send(
      jobCtx(connectionId, 'document_sync'),
      {
        operation: 'create',
        categories: ['documents.metadata'],
        subjects: { documentIds: ['d1'] },
        recipient: { account: null, destination: 'LIB!1' },
        fields: { title: 'Brief', author: 'Ada' },
      },
      async (fields) => {
        const res = await client.request<{ id: string }>({ method: 'POST', path: 'items', body: fields });
        return { value: res.body, status: res.status, remoteId: res.body?.id, bytes: res.bytesSent };
      },
    );
    expect(result.outcome).toBe('sent');
    expect(received).toEqual([{ method: 'POST', url: '/api/items', auth: 'Bearer secret-token', body: '{"title":"Brief","author":"Ada"}' }]);
    const rows = await logRows(t.services, org.organizationId);
    expect(rows[1]).toMatchObject({ outcome: 'sent', provider_status: 201, remote_id: 'remote-9', payload_bytes: 32 });

    const limited = await t.services.gate.send(
      jobCtx(connectionId, 'document_sync'),
      { operation: 'update', categories: ['documents.metadata'], subjects: {}, recipient: { account: null, destination: null }, fields: { title: 'x' } },
      async (fields) => {
        const res = await client.request({ method: 'PATCH', path: 'limited', body: fields });
        return { value: res.body };
      },
    );
    expect(limited.outcome).toBe('failed');
    const error = (limited as { error: ProviderRequestError }).error;
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect([error.status, error.retryAfterMs]).toEqual([429, 7000]);
    const failed = (await logRows(t.services, org.organizationId)).find((r) => r.outcome === 'failed')!;
    expect(failed.provider_status).toBe(429);
    expect(JSON.stringify(failed)).not.toContain('secret-token');
  });
});
