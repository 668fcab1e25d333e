import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImanage, pinImanageHost, pinnedFetch } from '../../connectors/imanage/client.ts';

import { loadConfig } from '../../src/config/load.ts';
import { gateScope } from '../../src/transfers/gate-scope.ts';

/**
 * DNS rebinding: the firm's server name is resolved once, the address checked, and the client's
 * calls go to that address only — a name resolving elsewhere afterwards (or not at all) is not
 * followed. A real HTTP server on loopback (allowed here by IMANAGE_ALLOW_PRIVATE_HOSTS, as in the
 * sandbox) counts what reaches it; without the flag a private answer is refused and a public one is
 * what gets pinned.
 */

let server: http.Server;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.headers.host} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ data: { user: { customer_id: 7, email: 'svc@firm.example' }, work: { libraries: [{ alias: 'ACTIVE' }] } } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const config = (allow: boolean) => loadConfig({ ...process.env, IMANAGE_ALLOW_PRIVATE_HOSTS: allow ? 'true' : 'false' });

describe('iManage: the server address is pinned', () => {
  it('a pinned fetch reaches the pinned address for a name that does not resolve at all', async () => {
    const res = await pinnedFetch({ address: '127.0.0.1', family: 4 })(`http://firm-dms.invalid:${port}/api`, { headers: { 'x-test': '1' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { user: { customer_id: number } } }).data.user.customer_id).toBe(7);
    // The Host header still names the firm's server (virtual hosting, TLS SNI).
    expect(seen.at(-1)).toBe(`GET firm-dms.invalid:${port} /api`);
  });

  it('resolves once per client; later answers of the resolver (rebinding) are not followed', async () => {
    const answers = [['127.0.0.1'], ['10.255.255.1'], ['169.254.169.254']];
    let lookups = 0;
    const resolve = async () => answers[Math.min(lookups++, answers.length - 1)]!;
    const api = openImanage({
      config: config(true),
      settings: { host: `http://firm-dms.invalid:${port}`, customerId: 7, libraryId: 'ACTIVE' },
      accessToken: 'token',
      resolve,
    });
    const before = seen.length;
    for (let i = 0; i < 3; i++) {
      const d = await gateScope.run({ transferId: `t${i}`, connectionId: 'c', purpose: 'test' }, () => api.discover());
      expect(d.customerId).toBe('7');
    }
    expect(lookups).toBe(1);
    expect(seen.length - before).toBe(3);
  });

  it('without IMANAGE_ALLOW_PRIVATE_HOSTS a private answer is refused, a public one is pinned as checked', async () => {
    const refused = await pinImanageHost(config(false), 'https://dms.firm.example', async () => ['127.0.0.1']);
    expect(refused).toEqual({ refused: expect.objectContaining({ code: 'host_not_allowed' }) });
    const mixed = await pinImanageHost(config(false), 'https://dms.firm.example', async () => ['93.184.215.14', '10.0.0.5']);
    expect('refused' in mixed && mixed.refused.code).toBe('host_not_allowed');
    const ok = await pinImanageHost(config(false), 'https://dms.firm.example', async () => ['93.184.215.14']);
    expect(ok).toEqual({ pin: { address: '93.184.215.14', family: 4 } });
    const v6 = await pinImanageHost(config(false), 'https://[2606:4700::1111]', async () => []);
    expect(v6).toEqual({ pin: { address: '2606:4700::1111', family: 6 } });
  });
});
