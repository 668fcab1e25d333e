import { describe, expect, it } from 'vitest';
import { checkImanageHost } from '../../connectors/imanage/client.ts';
import { classifyImanageError } from '../../connectors/imanage/errors.ts';
import { clientMatterOf, projectDocuments, splitHash } from '../../connectors/imanage/project.ts';
import type { DocumentWithCase } from '../../src/cases/queries.ts';
import { isPrivateAddress } from '../../src/security/private-addresses.ts';
import { ProviderRequestError } from '../../src/transfers/clients/http.ts';

/** The pure parts of the iManage connector: the server address rule (SSRF), error classes, the projection. */

const strict = { IMANAGE_ALLOW_PRIVATE_HOSTS: false };
const resolvesTo =
  (...addresses: string[]) =>
  async () =>
    addresses;

describe('iManage server address (the admin chooses it: server-side request forgery)', () => {
  it('accepts an https host that resolves to public addresses', async () => {
    expect(await checkImanageHost(strict, 'https://cloudimanage.com', resolvesTo('52.1.2.3'))).toBeNull();
  });

  it.each([
    ['http without the sandbox flag', 'http://cloudimanage.com', ['52.1.2.3'], 'host_not_https'],
    ['a loopback address', 'https://127.0.0.1', [], 'host_not_allowed'],
    ['a name resolving to a private address', 'https://dms.example.com', ['10.0.0.5'], 'host_not_allowed'],
    ['a name with one private address among public ones', 'https://dms.example.com', ['52.1.2.3', '192.168.1.9'], 'host_not_allowed'],
    ['the cloud metadata address', 'https://169.254.169.254', [], 'host_not_allowed'],
    ['an IPv6 loopback', 'https://[::1]', [], 'host_not_allowed'],
    ['an IPv4-mapped IPv6 address', 'https://[::ffff:127.0.0.1]', [], 'host_not_allowed'],
    ['credentials in the URL', 'https://user:pw@cloudimanage.com', ['52.1.2.3'], 'invalid_host'],
    ['not a URL', 'cloudimanage', [], 'invalid_host'],
  ])('refuses %s', async (_what, host, addresses, code) => {
    expect((await checkImanageHost(strict, host, resolvesTo(...addresses)))?.code).toBe(code);
  });

  it('allows http and loopback only with IMANAGE_ALLOW_PRIVATE_HOSTS (the sandbox)', async () => {
    expect(await checkImanageHost({ IMANAGE_ALLOW_PRIVATE_HOSTS: true }, 'http://127.0.0.1:4010/imanage')).toBeNull();
  });

  it('knows private ranges', () => {
    expect(['127.0.0.1', '10.1.1.1', '172.16.0.1', '192.168.0.1', '100.64.0.1', 'fd00::1', 'fe80::1'].every(isPrivateAddress)).toBe(true);
    expect(['8.8.8.8', '2606:4700::1111'].some(isPrivateAddress)).toBe(false);
  });
});

describe('iManage error classes', () => {
  it('401 "X-Auth-Token is invalid or missing" → refresh, 429 → wait Retry-After, 5xx → retry, 400 naming a field → permanent with the field', () => {
    expect(classifyImanageError(new ProviderRequestError(401, 'x', null, { error: { message: 'X-Auth-Token is invalid or missing' } }))).toMatchObject({
      kind: 'auth_failed',
      reauthRequired: false,
    });
    expect(classifyImanageError(new ProviderRequestError(429, 'x', 7000, null))).toMatchObject({ kind: 'rate_limited', retryAfterMs: 7000 });
    expect(classifyImanageError(new ProviderRequestError(503, 'x', null, null))).toMatchObject({ kind: 'transient' });
    expect(classifyImanageError(new ProviderRequestError(null, 'x', null, null, 'timeout'))).toMatchObject({ kind: 'transient' });
    const profile = classifyImanageError(
      new ProviderRequestError(400, 'x', null, { error: { code: 'InvalidClass', message: 'class MEMO does not exist', field: 'class' } }),
    );
    expect(profile).toMatchObject({ kind: 'permanent', code: 'profile_rejected' });
    expect(profile.message).toContain('field class');
  });
});

describe('iManage projection', () => {
  const doc: DocumentWithCase = {
    id: 'd1',
    externalId: 'x',
    caseId: 'c1',
    caseNumber: '1001-0042',
    caseTitle: 'T',
    title: 'Complaint',
    fileName: 'complaint.pdf',
    mimeType: 'application/pdf',
    sizeBytes: 10,
    sha256: 'a'.repeat(64),
    author: 'Ada',
    documentDate: '2025-01-15',
    version: 1,
    updatedAt: new Date(),
  };

  it('sends nothing under a metadata-only consent (no document without its content)', () => {
    expect(projectDocuments({ documents: [doc], categories: ['documents.metadata'] })).toEqual([]);
  });

  it('leaves out title, author and date without documents.metadata, and a title change keeps the content half of the hash', () => {
    const [files] = projectDocuments({ documents: [doc], categories: ['documents.files'] });
    expect(files!.fields).toEqual({ content: doc.sha256, fileName: 'complaint.pdf', caseNumber: '1001-0042' });
    const [a] = projectDocuments({ documents: [doc], categories: ['documents.files', 'documents.metadata'] });
    const [b] = projectDocuments({ documents: [{ ...doc, title: 'Amended complaint' }], categories: ['documents.files', 'documents.metadata'] });
    expect(splitHash(a!.hash).content).toBe(splitHash(b!.hash).content);
    expect(a!.hash).not.toBe(b!.hash);
  });

  it('splits case numbers into client and matter by the pattern', () => {
    expect(clientMatterOf('1001-0042', '^(?<client>[^-]+)-(?<matter>.+)$')).toEqual({ client: '1001', matter: '0042' });
    expect(clientMatterOf('PI2024', '^(?<client>[^-]+)-(?<matter>.+)$')).toBeNull();
  });
});
