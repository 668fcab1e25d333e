import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { compactVerify, importJWK, type JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { parseTrustedProxies, resolveClientAddress, TrustProxyError } from '../../src/config/trust-proxy.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { insertConnection } from './helpers.ts';

/**
 * The address recorded in a consent (and signed into its receipt) is the socket peer unless the
 * peer is a configured proxy: a client cannot choose it with `X-Forwarded-For`.
 */

describe('resolving the client address', () => {
  const none = parseTrustedProxies(undefined);
  const proxies = parseTrustedProxies('10.0.0.0/8, 192.0.2.1, ::1');

  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(resolveClientAddress('198.51.100.4', '203.0.113.7', none)).toBe('198.51.100.4');
    expect(resolveClientAddress('::ffff:127.0.0.1', '203.0.113.7', none)).toBe('127.0.0.1');
    expect(resolveClientAddress(null, '203.0.113.7', none)).toBeNull();
  });

  it('walks from the right through trusted proxies only', () => {
    // The client prepended a forged hop; the trusted proxies appended the real one.
    expect(resolveClientAddress('192.0.2.1', '6.6.6.6, 203.0.113.7, 10.1.2.3', proxies)).toBe('203.0.113.7');
    expect(resolveClientAddress('::ffff:10.9.9.9', '203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(resolveClientAddress('::1', '2001:db8::5', proxies)).toBe('2001:db8::5');
    // An untrusted peer's header is not read at all.
    expect(resolveClientAddress('198.51.100.4', '10.0.0.1', proxies)).toBe('198.51.100.4');
    // Only proxies all the way: the left-most address is the best we have.
    expect(resolveClientAddress('10.0.0.2', '10.0.0.1', proxies)).toBe('10.0.0.1');
    // A trusted proxy forwarding garbage: stay at the last address vouched for.
    expect(resolveClientAddress('10.0.0.2', 'not-an-ip', proxies)).toBe('10.0.0.2');
  });

  it('refuses a TRUST_PROXY that is not IPs and CIDR blocks', () => {
    for (const bad of ['loopback', '10.0.0.0/33', '10.0.0.1/8/1', '::1/129', '10.0.0.0/x']) {
      expect(() => parseTrustedProxies(bad)).toThrow(TrustProxyError);
    }
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });
});

describe('the consent record over a real HTTP server', () => {
  const servers: Array<{ t: TestServices; server: ServerType }> = [];

  async function start(env: Record<string, string>) {
    const t = await createTestServices(env);
    const server = serve({ fetch: t.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    servers.push({ t, server });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { t, base };
  }

  async function grantOver(env: Record<string, string>, forwardedFor: string) {
    const { t, base } = await start(env);
    const org = await seedOrg(t.services, 'Address Firm');
    const member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    const res = await fetch(`${base}/v1/connections/${connectionId}/consents`, {
      method: 'POST',
      headers: { ...member, 'content-type': 'application/json', 'x-forwarded-for': forwardedFor, 'x-real-ip': '6.6.6.6' },
      body: JSON.stringify({ categories: ['calendar.events'] }),
    });
    expect(res.status).toBe(201);
    const consent = ((await res.json()) as { consent: { ip: string | null; version: number } }).consent;
    const receipt = await fetch(`${base}/v1/connections/${connectionId}/consents/${consent.version}/receipt`, { headers: member });
    const body = (await receipt.json()) as { jws: string };
    // What the signature covers, checked with the published key only (not our own verification code).
    const { keys } = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const verified = await compactVerify(body.jws, await importJWK(keys[0]!, 'EdDSA'));
    const signed = JSON.parse(new TextDecoder().decode(verified.payload)) as { casebridge: { collectedFrom: { ip: string | null } } };
    return { recorded: consent.ip, signed: signed.casebridge.collectedFrom.ip };
  }

  afterAll(async () => {
    for (const { t, server } of servers) {
      await new Promise((resolve) => server.close(resolve));
      await t.cleanup();
    }
  });

  it('records the socket address, not a spoofed X-Forwarded-For, when no proxy is trusted', async () => {
    const { recorded, signed } = await grantOver({}, '203.0.113.7');
    expect(recorded).toBe('127.0.0.1');
    expect(signed).toBe('127.0.0.1');
  });

  it('believes X-Forwarded-For from a trusted proxy, only as far as the proxies go', async () => {
    // The test client is the "proxy" at 127.0.0.1; the forged left-most hop is not taken.
    const { recorded, signed } = await grantOver({ TRUST_PROXY: '127.0.0.1' }, '6.6.6.6, 203.0.113.7');
    expect(recorded).toBe('203.0.113.7');
    expect(signed).toBe('203.0.113.7');
  });

  it('does not believe a proxy that is not listed', async () => {
    const { recorded } = await grantOver({ TRUST_PROXY: '10.0.0.0/8' }, '203.0.113.7');
    expect(recorded).toBe('127.0.0.1');
  });
});
