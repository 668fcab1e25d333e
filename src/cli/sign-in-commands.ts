import fs from 'node:fs';
import type { GoogleDomainStatus } from '../auth/google-domains.ts';
import type { SamlIdpConfig } from '../auth/saml/idp-config.ts';
import type { IdpMetadata } from '../auth/saml/idp-metadata.ts';
import type { SignInPolicy } from '../auth/sign-in-policy.ts';
import type { Config } from '../config/load.ts';
import type { CliCommand } from './command.ts';
import { jsonOption, orgOption } from './options.ts';
import { requireOrganization, withStores } from './stores.ts';
import { UsageError } from './usage-error.ts';

/**
 * `casebridge org sign-in-policy show|set` and `org saml show|set`: an organization's sign-in
 * settings from the command line, for the deployment's operator (the same settings admins change
 * with PATCH /v1/admin/sign-in-policy and PUT /v1/admin/saml). Each change is a security event.
 * What a command runs with is imported in its run: help loads only these definitions.
 */

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function flag(args: Record<string, unknown>, name: string): boolean | undefined {
  const v = args[name];
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'on' || v === 'yes') return true;
  if (v === 'false' || v === 'off' || v === 'no') return false;
  throw new UsageError(`--${name} must be true or false`);
}

function describePolicy(p: SignInPolicy, claims: Array<{ domain: string; status: GoogleDomainStatus }>): string[] {
  const status = new Map(claims.map((c) => [c.domain, c.status]));
  const domains = p.allowedGoogleDomains.map((d) => `${d} (${status.get(d) === 'verified' ? 'verified' : 'pending verification: provisions nobody yet'})`);
  return [
    `Google Workspace domains: ${domains.length ? domains.join(', ') : '(any verified Google account)'}`,
    `just-in-time provisioning: ${p.jitProvisioning ? `on (new users get role ${p.defaultRole})` : 'off'}`,
    `link existing users by verified e-mail: ${p.linkByEmail ? 'on' : 'off'}`,
  ];
}

export const signInCommands: CliCommand[] = [
  {
    words: ['org', 'sign-in-policy', 'show'],
    summary: "Show an organization's sign-in policy",
    usage: '--org ID [--json]',
    options: { org: orgOption, json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const [{ loadSignInPolicy }, { googleDomainClaimsOf }] = await Promise.all([import('../auth/sign-in-policy.ts'), import('../auth/google-domains.ts')]);
        const policy = (await loadSignInPolicy(db, org.id))!;
        const domains = await googleDomainClaimsOf(db, org.id);
        if (args.json) print(JSON.stringify({ organizationId: org.id, policy, domains }));
        else for (const line of describePolicy(policy, domains)) print(line);
      }),
  },
  {
    words: ['org', 'sign-in-policy', 'set'],
    summary: "Change an organization's sign-in policy (options not given stay as they are)",
    usage:
      '--org ID [--google-domain D]... [--approve-domains] [--no-google-domains] [--jit true|false] [--default-role member|admin] [--link-by-email true|false] [--json]',
    options: {
      org: orgOption,
      'google-domain': {
        type: 'string',
        multiple: true,
        valueName: 'D',
        description: 'admit this Google Workspace domain (repeat for several; replaces the list)',
      },
      'no-google-domains': { type: 'boolean', description: 'admit any verified Google account (clears the domain list)' },
      jit: { type: 'string', valueName: 'true|false', description: 'create users at their first sign-in from an admitted domain' },
      'default-role': { type: 'string', valueName: 'member|admin', description: 'the role of users created at first sign-in' },
      'link-by-email': { type: 'string', valueName: 'true|false', description: 'link a first sign-in to the existing user with the same verified e-mail' },
      'approve-domains': { type: 'boolean', description: 'verify the given domains as the operator (once you know the firm owns them)' },
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const change: Partial<SignInPolicy> = {};
        const domains = (args['google-domain'] as string[] | undefined)?.map((d) => d.trim().toLowerCase());
        if (domains && args['no-google-domains']) throw new UsageError('give --google-domain or --no-google-domains, not both');
        if (domains) {
          const bad = domains.find((d) => !DOMAIN.test(d));
          if (bad !== undefined) throw new UsageError(`--google-domain: "${bad}" is not a domain name`);
          change.allowedGoogleDomains = domains;
        }
        if (args['no-google-domains']) change.allowedGoogleDomains = [];
        const jit = flag(args, 'jit');
        if (jit !== undefined) change.jitProvisioning = jit;
        const linkByEmail = flag(args, 'link-by-email');
        if (linkByEmail !== undefined) change.linkByEmail = linkByEmail;
        const role = args['default-role'];
        if (role !== undefined) {
          if (role !== 'member' && role !== 'admin') throw new UsageError('--default-role must be member or admin');
          change.defaultRole = role;
        }
        if (!Object.keys(change).length)
          throw new UsageError('nothing to change: give --google-domain, --no-google-domains, --jit, --default-role or --link-by-email');
        const [{ updateSignInPolicy }, { approveGoogleDomain, DomainClaimedError, googleDomainClaimsOf }, { recordSecurityEvent }] = await Promise.all([
          import('../auth/sign-in-policy.ts'),
          import('../auth/google-domains.ts'),
          import('../security/events.ts'),
        ]);
        let policy: SignInPolicy;
        try {
          policy = await updateSignInPolicy(db, org.id, change);
        } catch (err) {
          // A Workspace domain admits its users to one organization only: a second one could capture them.
          if (err instanceof DomainClaimedError) throw new UsageError(`${err.message}; a domain belongs to one organization`);
          throw err;
        }
        // The command line is the operator's: it may verify the domains it admits, as the super admin's API does.
        if (domains && args['approve-domains']) for (const d of domains) await approveGoogleDomain(db, d);
        const claims = await googleDomainClaimsOf(db, org.id);
        await recordSecurityEvent(db, {
          organizationId: org.id,
          kind: 'sign_in_policy_updated',
          outcome: 'success',
          method: 'command_line',
          details: { change },
        });
        if (args.json) print(JSON.stringify({ organizationId: org.id, policy, domains: claims }));
        else for (const line of describePolicy(policy, claims)) print(line);
      }),
  },
  {
    words: ['org', 'saml', 'show'],
    summary: "Show an organization's SAML identity provider and the URLs to give it",
    usage: '--org ID [--json]',
    options: { org: orgOption, json: jsonOption },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const { loadSamlIdpConfig } = await import('../auth/saml/idp-config.ts');
        const idp = await loadSamlIdpConfig(db, org.id);
        const sp = await serviceProviderUrls(config, org.id);
        if (args.json) {
          print(
            JSON.stringify({
              organizationId: org.id,
              serviceProvider: sp,
              identityProvider: idp && { entityId: idp.entityId, ssoUrl: idp.ssoUrl, sloUrl: idp.sloUrl, certificates: idp.certificates.length },
            }),
          );
          return;
        }
        print(`our metadata / entity id: ${sp.metadataUrl}`);
        print(`ACS: ${sp.acsUrl}   SLO: ${sp.sloUrl}`);
        if (!idp) print('no identity provider configured (casebridge org saml set)');
        else print(`identity provider ${idp.entityId}: SSO ${idp.ssoUrl}, SLO ${idp.sloUrl ?? '(none)'}, ${idp.certificates.length} signing certificate(s)`);
      }),
  },
  {
    words: ['org', 'saml', 'set'],
    summary: "Configure an organization's SAML identity provider from its metadata (URL or file)",
    usage: '--org ID (--metadata-url URL | --metadata-file FILE) [--allow-idp-initiated] [--json]',
    options: {
      org: orgOption,
      'metadata-url': {
        type: 'string',
        valueName: 'URL',
        description: "the IdP's SAML metadata URL (https; http to a loopback host outside production; 1 MiB at most)",
      },
      'metadata-file': { type: 'string', valueName: 'FILE', description: "the IdP's SAML metadata, saved as a file" },
      'allow-idp-initiated': { type: 'boolean', description: 'accept sign-ins started at the IdP (unsolicited responses)' },
      json: jsonOption,
    },
    needsServices: false,
    run: ({ args, config, print }) =>
      withStores(config, async ({ db }) => {
        const org = await requireOrganization(db, args);
        const url = args['metadata-url'];
        const file = args['metadata-file'];
        if ((url === undefined) === (file === undefined)) throw new UsageError('give exactly one of --metadata-url URL and --metadata-file FILE');
        const [idpMetadata, { configureSamlIdp, InsecureUrlError }] = await Promise.all([
          import('../auth/saml/idp-metadata.ts'),
          import('../auth/saml/configure.ts'),
        ]);
        let metadata: IdpMetadata;
        try {
          const xml =
            typeof url === 'string'
              ? await idpMetadata.fetchIdpMetadata(url, { allowPrivate: true, production: config.NODE_ENV === 'production' })
              : readMetadataFile(String(file), idpMetadata);
          metadata = idpMetadata.parseIdpMetadata(xml);
        } catch (err) {
          if (err instanceof idpMetadata.IdpMetadataError) throw new UsageError(`${err.message} (${err.code})`);
          throw err;
        }
        let idp: SamlIdpConfig;
        try {
          ({ idp } = await configureSamlIdp(db, {
            organizationId: org.id,
            actorUserId: null,
            method: 'command_line',
            production: config.NODE_ENV === 'production',
            idp: { ...metadata, allowIdpInitiated: Boolean(args['allow-idp-initiated']) },
            source: url ? 'metadata_url' : 'metadata_file',
            ip: null,
            userAgent: null,
          }));
        } catch (err) {
          if (err instanceof InsecureUrlError) {
            const [name, value] = err.field === 'ssoUrl' ? ['SSO URL', metadata.ssoUrl] : ['SLO URL', metadata.sloUrl];
            throw new UsageError(`the IdP's ${name} must use https:// (${value})`);
          }
          throw err;
        }
        const sp = await serviceProviderUrls(config, org.id);
        if (args.json) {
          print(
            JSON.stringify({
              organizationId: org.id,
              identityProvider: {
                entityId: idp.entityId,
                ssoUrl: idp.ssoUrl,
                sloUrl: idp.sloUrl,
                certificates: idp.certificates.length,
                allowIdpInitiated: idp.allowIdpInitiated,
              },
              serviceProvider: sp,
            }),
          );
          return;
        }
        print(`SAML identity provider ${idp.entityId} saved for ${org.name}`);
        print(`  SSO ${idp.ssoUrl}; SLO ${idp.sloUrl ?? '(none)'}; ${idp.certificates.length} signing certificate(s)`);
        print(`  give the IdP: audience/entity id ${sp.entityId}, ACS ${sp.acsUrl}, SLO ${sp.sloUrl}`);
        print(`  sign-in: ${sp.loginUrl}`);
      }),
  },
];

/** Our SP URLs for the organization; the SAML library is imported only by the commands that need it. */
async function serviceProviderUrls(config: Config, organizationId: string) {
  return (await import('../auth/saml/service-provider.ts')).samlSpUrls(config, organizationId);
}

function readMetadataFile(file: string, { IdpMetadataError, MAX_METADATA_BYTES }: typeof import('../auth/saml/idp-metadata.ts')): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new IdpMetadataError('metadata_unavailable', `cannot read ${file}`);
  }
  if (!stat.isFile()) throw new IdpMetadataError('metadata_unavailable', `${file} is not a file`);
  if (stat.size > MAX_METADATA_BYTES) throw new IdpMetadataError('metadata_too_large', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  return fs.readFileSync(file, 'utf8');
}
