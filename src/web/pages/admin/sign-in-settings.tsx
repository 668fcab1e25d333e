/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { DomainClaimedError, googleDomainClaimsOf } from '../../../auth/google-domains.ts';
import { configureSamlIdp, configureSamlIdpFromMetadataUrl, InsecureUrlError } from '../../../auth/saml/configure.ts';
import { EntityIdInUseError, InvalidCertificateError, loadSamlIdpConfig, normalizeCertificate } from '../../../auth/saml/idp-config.ts';
import { IdpMetadataError, MAX_METADATA_BYTES, metadataErrorStatus, parseIdpMetadata } from '../../../auth/saml/idp-metadata.ts';
import { samlSpUrls } from '../../../auth/saml/service-provider.ts';
import { changeSignInPolicy, loadSignInPolicy } from '../../../auth/sign-in-policy.ts';
import type { WebApp, WebEnv } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { Csrf, Notice } from '../../layout.tsx';
import { sendPage } from '../../render.ts';
import { AdminPage, actorOf, utc } from './common.tsx';

const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const PolicyForm = z.object({
  allowedGoogleDomains: z.array(z.string().regex(DOMAIN)).max(50),
  jitProvisioning: z.boolean(),
  defaultRole: z.enum(['member', 'admin']),
  linkByEmail: z.boolean(),
});

/**
 * `/admin/sign-in`: the organization's sign-in settings — the Google Workspace domains and
 * provisioning policy (`changeSignInPolicy`, as `PATCH /v1/admin/sign-in-policy`), the SAML identity
 * provider from its metadata URL, file or pasted XML (`configureSamlIdp`, as `PUT /v1/admin/saml`;
 * a URL is fetched under SSRF rules, as `POST /v1/admin/saml/metadata-url`), our service
 * provider's metadata to download for the IdP, and a test sign-in through the IdP that comes back here.
 */
export function registerSignInSettings(web: WebApp): void {
  web.get('/admin/sign-in', async (c) => signInSettingsPage(c));

  web.post('/admin/sign-in/policy', async (c) => {
    const form = await c.req.parseBody({ all: true });
    const domains = String(form.allowedGoogleDomains ?? '')
      .split(/[\s,]+/)
      .map((d) => d.trim().toLowerCase())
      .filter(Boolean);
    const parsed = PolicyForm.safeParse({
      allowedGoogleDomains: [...new Set(domains)],
      jitProvisioning: form.jitProvisioning === 'yes',
      defaultRole: form.defaultRole,
      linkByEmail: form.linkByEmail === 'yes',
    });
    if (!parsed.success)
      throw new PageError(400, 'validation_failed', 'Google domains are names such as example.com (50 at most); the default role is member or admin.');
    try {
      await changeSignInPolicy(c.get('services').db, { ...actorOf(c), change: parsed.data });
    } catch (e) {
      if (e instanceof DomainClaimedError) throw new PageError(409, e.code, `Another organization holds the domain ${e.domain}. Nothing was changed.`);
      throw e;
    }
    return c.redirect('/admin/sign-in?saved=policy', 303);
  });

  web.post('/admin/sign-in/saml', async (c) => {
    const services = c.get('services');
    const form = await c.req.parseBody();
    const file = form.metadata;
    const pasted = typeof form.metadataXml === 'string' ? form.metadataXml.trim() : '';
    const url = typeof form.metadataUrl === 'string' ? form.metadataUrl.trim() : '';
    const hasFile = file instanceof File && file.size > 0;
    if ([hasFile, Boolean(pasted), Boolean(url)].filter(Boolean).length > 1)
      throw new PageError(400, 'metadata_ambiguous', 'Give the metadata one way only: its URL, a file, or the pasted XML.');
    const allowIdpInitiated = form.allowIdpInitiated === 'yes';
    const production = services.config.NODE_ENV === 'production';
    try {
      if (url) {
        if (url.length > 2048) throw new PageError(400, 'metadata_url_refused', 'The metadata URL is longer than 2048 characters.');
        await configureSamlIdpFromMetadataUrl(services.db, {
          ...actorOf(c),
          production,
          url,
          allowPrivate: services.config.SAML_METADATA_ALLOW_PRIVATE_HOSTS,
          allowIdpInitiated,
        });
      } else {
        let xml: string;
        if (hasFile) {
          if (file.size > MAX_METADATA_BYTES) throw new PageError(413, 'metadata_too_large', `The metadata file is larger than ${MAX_METADATA_BYTES} bytes.`);
          xml = await file.text();
        } else if (pasted) {
          if (pasted.length > MAX_METADATA_BYTES) throw new PageError(413, 'metadata_too_large', `The metadata is larger than ${MAX_METADATA_BYTES} bytes.`);
          xml = pasted;
        } else {
          throw new PageError(400, 'metadata_required', "Give the identity provider's metadata URL, choose its metadata file, or paste its XML.");
        }
        const metadata = parseIdpMetadata(xml);
        await configureSamlIdp(services.db, { ...actorOf(c), production, idp: { ...metadata, allowIdpInitiated }, source: 'metadata_file' });
      }
    } catch (e) {
      // Fetched metadata that cannot be used is the remote server's fault (422); a file or pasted XML is this request's (400).
      if (e instanceof IdpMetadataError)
        throw new PageError(
          url ? metadataErrorStatus(e.code) : e.code === 'metadata_too_large' ? 413 : 400,
          e.code,
          `The metadata cannot be used: ${e.message}.`,
        );
      if (e instanceof InvalidCertificateError) throw new PageError(400, e.code, 'A signing certificate in the metadata is not valid.');
      if (e instanceof InsecureUrlError)
        throw new PageError(400, e.code, `The identity provider's ${e.field === 'ssoUrl' ? 'sign-in' : 'logout'} address must use https://.`);
      if (e instanceof EntityIdInUseError) throw new PageError(409, e.code, 'Another organization already uses this identity provider (same entity id).');
      throw e;
    }
    return c.redirect('/admin/sign-in?saved=saml', 303);
  });
}

async function signInSettingsPage(c: Context<WebEnv>) {
  const services = c.get('services');
  const viewer = c.get('viewer');
  const orgId = viewer.principal.organizationId;
  const [policy, claims, idp, session] = await Promise.all([
    loadSignInPolicy(services.db, orgId),
    googleDomainClaimsOf(services.db, orgId),
    loadSamlIdpConfig(services.db, orgId),
    services.sessions.get(viewer.principal.sessionId),
  ]);
  const sp = samlSpUrls(services.config, orgId);
  const saved = c.req.query('saved');
  // Back from the test sign-in: this very session came through the organization's IdP.
  const tested = c.req.query('tested') === '1' && session?.method === `saml:${orgId}`;
  const csrf = c.get('csrfToken');
  return sendPage(
    c,
    <AdminPage c={c} title="Sign-in settings">
      {saved === 'policy' ? <Notice kind="ok">The sign-in policy is saved.</Notice> : null}
      {saved === 'saml' ? <Notice kind="ok">The identity provider is saved. Try it with “Test sign-in”.</Notice> : null}
      {c.req.query('tested') === '1' ? (
        tested ? (
          <Notice kind="ok">
            <span id="saml-test-ok">SAML sign-in works: you are signed in through {idp?.entityId ?? 'the identity provider'}.</span>
          </Notice>
        ) : (
          <Notice kind="error">The test did not come back through SAML: this session was not started by the identity provider.</Notice>
        )
      ) : null}
      <form method="post" action="/admin/sign-in/policy" class="card" id="policy-form">
        <h2>Google Sign-In</h2>
        <Csrf token={csrf} />
        <p>
          <label for="google-domains">Google Workspace domains admitted (one per line; empty: any verified Google account of a known user)</label>
          <br />
          <textarea id="google-domains" name="allowedGoogleDomains" rows={3}>
            {(policy?.allowedGoogleDomains ?? []).join('\n')}
          </textarea>
        </p>
        {claims.length ? (
          <ul class="plain" id="domain-claims">
            {claims.map((d) => (
              <li>
                {d.domain}: {d.status === 'verified' ? 'verified' : 'waiting for the operator to verify it (until then it links and provisions nobody)'}
              </li>
            ))}
          </ul>
        ) : null}
        <div class="choice">
          <input type="checkbox" id="jit" name="jitProvisioning" value="yes" checked={policy?.jitProvisioning ?? false} />
          <label for="jit">Create users on their first sign-in</label>
        </div>
        <p>
          <label for="default-role">Role of users created that way</label>
          <br />
          <select id="default-role" name="defaultRole">
            <option value="member" selected={policy?.defaultRole !== 'admin'}>
              member
            </option>
            <option value="admin" selected={policy?.defaultRole === 'admin'}>
              admin
            </option>
          </select>
        </p>
        <div class="choice">
          <input type="checkbox" id="link-by-email" name="linkByEmail" value="yes" checked={policy?.linkByEmail ?? false} />
          <label for="link-by-email">Link a new sign-in to the existing user with the same verified e-mail address</label>
        </div>
        <button type="submit" id="save-policy">
          Save the policy
        </button>
      </form>
      <section class="card" aria-labelledby="sp-heading">
        <h2 id="sp-heading">SAML: what to give your identity provider</h2>
        <dl class="facts">
          <dt>Entity id (audience)</dt>
          <dd class="mono">{sp.entityId}</dd>
          <dt>ACS (consumer) URL</dt>
          <dd class="mono">{sp.acsUrl}</dd>
          <dt>Single logout URL</dt>
          <dd class="mono">{sp.sloUrl}</dd>
        </dl>
        <p>
          <a class="button secondary" id="sp-metadata" href={sp.metadataUrl} download={`casebridge-sp-${orgId}.xml`}>
            Download our SAML metadata
          </a>
        </p>
      </section>
      <section class="card" aria-labelledby="idp-heading">
        <h2 id="idp-heading">SAML identity provider</h2>
        {idp ? (
          <>
            <dl class="facts" id="idp-config">
              <dt>Entity id</dt>
              <dd class="mono">{idp.entityId}</dd>
              <dt>Sign-in URL</dt>
              <dd class="mono">{idp.ssoUrl}</dd>
              <dt>Logout URL</dt>
              <dd class="mono">{idp.sloUrl ?? '—'}</dd>
              <dt>Signing certificates</dt>
              <dd>
                {idp.certificates.map((pem) => {
                  const cert = normalizeCertificate(pem);
                  return (
                    <span class="mono">
                      SHA-256 {cert.fingerprint256.slice(0, 23)}…, valid until {cert.notAfter.toISOString().slice(0, 10)}
                      <br />
                    </span>
                  );
                })}
              </dd>
              <dt>Sign-ins started at the IdP</dt>
              <dd>{idp.allowIdpInitiated ? 'accepted' : 'refused'}</dd>
              <dt>Last changed</dt>
              <dd>{utc(idp.updatedAt)} UTC</dd>
            </dl>
            <p>
              <a class="button" id="saml-test" href={`/auth/saml/${orgId}/login?returnTo=${encodeURIComponent('/admin/sign-in?tested=1')}`}>
                Test sign-in
              </a>
            </p>
            <p class="muted">The test signs you in again through the identity provider and brings you back here.</p>
          </>
        ) : (
          <p id="idp-none">No identity provider yet.</p>
        )}
        <form method="post" action="/admin/sign-in/saml" enctype="multipart/form-data" id="saml-form">
          <Csrf token={csrf} />
          <p>
            <label for="metadata-url">Identity provider metadata URL (https://)</label>
            <br />
            <input type="url" id="metadata-url" name="metadataUrl" inputmode="url" maxlength={2048} />
          </p>
          <p>
            <label for="metadata-file">…or its metadata as an XML file</label>
            <br />
            <input type="file" id="metadata-file" name="metadata" accept=".xml,application/xml,text/xml,application/samlmetadata+xml" />
          </p>
          <p>
            <label for="metadata-xml">…or paste the metadata XML</label>
            <br />
            <textarea id="metadata-xml" name="metadataXml" rows={4} />
          </p>
          <div class="choice">
            <input type="checkbox" id="allow-idp-initiated" name="allowIdpInitiated" value="yes" checked={idp?.allowIdpInitiated ?? false} />
            <label for="allow-idp-initiated">Accept sign-ins started at the identity provider (weaker: no request to bind the answer to)</label>
          </div>
          <button type="submit" id="save-saml">
            {idp ? 'Replace the identity provider' : 'Save the identity provider'}
          </button>
        </form>
      </section>
    </AdminPage>,
  );
}
