import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateBody, generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import type { CliCommand, CliRunContext } from '../../src/cli/command.ts';
import { orgCommands } from '../../src/cli/org-commands.ts';
import { signInCommands } from '../../src/cli/sign-in-commands.ts';
import { type Config, loadConfig } from '../../src/config/load.ts';
import { openDatabase } from '../../src/db/database.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';

/**
 * `casebridge org saml set` and `PUT /v1/admin/saml` configure the IdP through the one domain
 * function (src/auth/saml/configure.ts), so the `saml_config_updated` security event has one shape
 * whoever made the change; only who (an administrator or the operator) and how differ. The command
 * runs in-process against its own embedded database, as the bin would.
 */
describe('SAML identity-provider configuration: the command line and the API record the same event', () => {
  let t: TestServices;
  let dir: string;
  const { certificatePem } = generateSigningMaterial('idp.example');
  const metadata = (entityId: string) =>
    `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(certificatePem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`;

  beforeAll(async () => {
    t = await createTestServices();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'casebridge-saml-sources-'));
  });
  afterAll(async () => {
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a command as `casebridge <words> <args>` would, printing into the returned lines. */
  async function runCommand(commands: CliCommand[], words: string[], args: CliRunContext['args'], override: Partial<Config> = {}) {
    const command = commands.find((c) => c.words.join(' ') === words.join(' '))!;
    const config = { ...loadConfig({ DATABASE_URL: `pglite://${path.join(dir, 'db')}`, DATA_DIR: dir, REDIS_URL: 'redis://127.0.0.1:1' }), ...override };
    const lines: string[] = [];
    const code = await command.run({ args, positionals: [], config, services: null, print: (line) => lines.push(line) });
    return { code: code ?? 0, lines };
  }

  const shape = (details: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(details).map(([k, v]) => [k, Array.isArray(v) ? `array of ${typeof v[0]}` : typeof v]));

  it('writes saml_config_updated with the same details from `org saml set` as from PUT /v1/admin/saml', async () => {
    // The API, as an organization administrator.
    const org = await seedOrg(t.services, 'Saml Sources Firm');
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await t.app.request('/v1/admin/saml', {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ entityId: 'https://idp.example/metadata/api', ssoUrl: 'https://idp.example/sso', certificates: [certificatePem] }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const fromApi = await t.services.db
      .selectFrom('security_events')
      .select(['kind', 'outcome', 'method', 'actor_user_id', 'details'])
      .where('organization_id', '=', org.organizationId)
      .where('kind', '=', 'saml_config_updated')
      .executeTakeFirstOrThrow();

    // The command line, as the deployment's operator.
    const created = await runCommand(orgCommands, ['org', 'create'], { name: 'Saml Sources CLI Firm', json: true });
    expect(created.code).toBe(0);
    const orgId = (JSON.parse(created.lines[0]!) as { organization: { id: string } }).organization.id;
    const file = path.join(dir, 'idp.xml');
    fs.writeFileSync(file, metadata('https://idp.example/metadata/cli'));
    const set = await runCommand(signInCommands, ['org', 'saml', 'set'], { org: orgId, 'metadata-file': file, json: true });
    expect(set.code).toBe(0);
    expect(JSON.parse(set.lines[0]!).identityProvider).toMatchObject({ entityId: 'https://idp.example/metadata/cli', certificates: 1 });

    const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'db') });
    try {
      const fromCli = await database.db
        .selectFrom('security_events')
        .select(['kind', 'outcome', 'method', 'actor_user_id', 'details'])
        .where('organization_id', '=', orgId)
        .where('kind', '=', 'saml_config_updated')
        .executeTakeFirstOrThrow();
      const apiDetails = fromApi.details as Record<string, unknown>;
      const cliDetails = fromCli.details as Record<string, unknown>;
      expect(shape(cliDetails)).toEqual(shape(apiDetails));
      expect(shape(apiDetails)).toEqual({
        entityId: 'string',
        certificateFingerprints: 'array of string',
        allowIdpInitiated: 'boolean',
        policyChange: 'object',
        source: 'string',
      });
      // The same certificate has the same fingerprint whichever way it came in.
      expect(cliDetails.certificateFingerprints).toEqual(apiDetails.certificateFingerprints);
      expect({ ...fromApi, details: { source: apiDetails.source } }).toEqual({
        kind: 'saml_config_updated',
        outcome: 'success',
        method: 'admin',
        actor_user_id: org.admin.id,
        details: { source: 'api' },
      });
      expect({ ...fromCli, details: { source: cliDetails.source } }).toEqual({
        kind: 'saml_config_updated',
        outcome: 'success',
        method: 'command_line',
        actor_user_id: null,
        details: { source: 'metadata_file' },
      });
    } finally {
      await database.close();
    }
  }, 120_000);

  it('refuses, as the API does, an IdP whose sign-in URL is not https in production', async () => {
    const created = await runCommand(orgCommands, ['org', 'create'], { name: 'Saml Plain HTTP Firm', json: true });
    const orgId = (JSON.parse(created.lines[0]!) as { organization: { id: string } }).organization.id;
    const file = path.join(dir, 'plain.xml');
    fs.writeFileSync(file, metadata('https://idp.example/metadata/plain').replace('https://idp.example/sso', 'http://idp.example/sso'));
    await expect(runCommand(signInCommands, ['org', 'saml', 'set'], { org: orgId, 'metadata-file': file }, { NODE_ENV: 'production' })).rejects.toThrow(
      "the IdP's SSO URL must use https:// (http://idp.example/sso)",
    );
  }, 120_000);
});
