import { approveGoogleDomain } from '../auth/google-domains.ts';
import { actAs, SAMPLE_ADMIN_EMAIL, SAMPLE_MEMBER_EMAIL } from './as-user.ts';
import type { DemoContext, DemoStep } from './context.ts';

/**
 * Sign-in for the first sample firm, through the admin API as its administrator (alice): the
 * sign-in policy (its Google Workspace domain, just-in-time provisioning, linking by e-mail) and,
 * with a sandbox, its OneLogin SAML IdP (the sandbox's). Each is written only when it differs from
 * what is stored, so a second run changes nothing (and records no security event). Then prints a
 * sign-in URL for each authenticator and the accounts to pick.
 */

/** The OneLogin "app" id of the sample firm in the sandbox (part of the IdP's entity id and URLs). */
export const SAMPLE_ONELOGIN_APP = 'hartmann';

interface SignInPolicy {
  allowedGoogleDomains: string[];
  jitProvisioning: boolean;
  defaultRole: 'member' | 'admin';
  linkByEmail: boolean;
}

interface SamlSettings {
  configured: boolean;
  serviceProvider: { entityId: string; acsUrl: string; metadataUrl: string; loginUrl: string };
  identityProvider: { entityId: string; ssoUrl: string; sloUrl: string | null; certificates: Array<{ pem: string }> } | null;
}

const normalizePem = (pem: string) => pem.replace(/\s+/g, '');

export const signInStep: DemoStep = {
  name: 'sign-in',
  async run(ctx) {
    const org = ctx.seed!.organizations[0]!;
    const admin = await actAs(ctx, { organizationId: org.id, email: SAMPLE_ADMIN_EMAIL });
    const changed: string[] = [];
    try {
      // 1. Policy: the firm's Workspace domain admitted, new people created on first sign-in, an
      //    existing user (seeded by e-mail) linked to their new Google or OneLogin identity.
      const { policy } = (await admin.call<{ policy: SignInPolicy }>('GET', '/v1/admin/sign-in-policy')).body;
      const change: Partial<SignInPolicy> = {};
      if (!policy.allowedGoogleDomains.includes(org.domain)) change.allowedGoogleDomains = [...policy.allowedGoogleDomains, org.domain];
      if (!policy.jitProvisioning) change.jitProvisioning = true;
      if (!policy.linkByEmail) change.linkByEmail = true;
      if (Object.keys(change).length) {
        await admin.call('PATCH', '/v1/admin/sign-in-policy', change);
        changed.push('sign-in policy');
      }

      // The demo is also the deployment's operator: it verifies the firm's claim on its domain, as
      // the super administrator would after checking ownership (until then it provisions nobody).
      const approved = ctx.services ? await approveGoogleDomain(ctx.services.db, org.domain) : null;
      if (approved?.changed) changed.push('domain verified');

      // 2. OneLogin: the sandbox IdP's entity id, SSO/SLO URLs and signing certificate.
      if (ctx.sandbox) {
        const saml = await configureSandboxIdp(ctx, admin.call);
        if (saml) changed.push('OneLogin IdP');
      }
    } finally {
      await admin.end();
    }

    const base = ctx.config!.PUBLIC_BASE_URL;
    const heading = `Sign in (${org.name})`;
    ctx.print(
      heading,
      `${changed.length ? `configured: ${changed.join(', ')}` : 'configuration unchanged'}; policy: ${org.domain} admitted, just-in-time provisioning on, linking by e-mail on`,
      `sign-in page            ${base}/login`,
      `… with the firm's SSO   ${base}/login?org=${org.id}`,
      `Google (start)          ${base}/auth/google/start?org=${org.id}`,
    );
    if (ctx.sandbox) {
      ctx.print(
        heading,
        `OneLogin SAML (start)   ${base}/auth/saml/${org.id}/login`,
        `SP metadata             ${base}/auth/saml/${org.id}/metadata   IdP metadata ${ctx.sandbox.url}/onelogin/saml/metadata/${SAMPLE_ONELOGIN_APP}`,
        `sandbox accounts to pick: ${SAMPLE_ADMIN_EMAIL} (admin), ${SAMPLE_MEMBER_EMAIL} (member)`,
      );
    } else {
      ctx.print(heading, "OneLogin: no sandbox, so no IdP configured; an administrator sets the firm's own with PUT /v1/admin/saml");
    }
  },
};

/** Points the organization's SAML configuration at the sandbox's OneLogin IdP; returns whether it changed. */
async function configureSandboxIdp(ctx: DemoContext, call: Awaited<ReturnType<typeof actAs>>['call']): Promise<boolean> {
  const sandboxUrl = ctx.sandbox!.url;
  const res = await fetch(`${sandboxUrl}/_sandbox/onelogin/certificate`);
  if (!res.ok) throw new Error(`the sandbox at ${sandboxUrl} has no OneLogin emulator (${res.status})`);
  const { certificatePem } = (await res.json()) as { certificatePem: string };
  const wanted = {
    entityId: `${sandboxUrl}/onelogin/saml/metadata/${SAMPLE_ONELOGIN_APP}`,
    ssoUrl: `${sandboxUrl}/onelogin/trust/saml2/http-post/sso/${SAMPLE_ONELOGIN_APP}`,
    sloUrl: `${sandboxUrl}/onelogin/trust/saml2/http-redirect/slo/${SAMPLE_ONELOGIN_APP}`,
    certificates: [certificatePem],
  };
  const current = (await call<SamlSettings>('GET', '/v1/admin/saml')).body.identityProvider;
  const same =
    current !== null &&
    current.entityId === wanted.entityId &&
    current.ssoUrl === wanted.ssoUrl &&
    current.sloUrl === wanted.sloUrl &&
    current.certificates.length === 1 &&
    normalizePem(current.certificates[0]!.pem) === normalizePem(certificatePem);
  if (same) return false;
  await call('PUT', '/v1/admin/saml', wanted);
  return true;
}
