import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { emulators } from '../../sandbox/emulators.ts';
import { generateSigningMaterial } from '../../sandbox/onelogin/x509.ts';
import { startSandbox } from '../../sandbox/server.ts';
import { type DemoStep, envValue } from './context.ts';
import { freePort, portInUse } from './private-redis.ts';

/**
 * Starts the provider sandbox in this process and points the service at it (SANDBOX_URL), unless
 * the user chose providers themselves: SANDBOX_URL (a sandbox of their own, e.g. `npm run sandbox`)
 * or GOOGLE_CLIENT_ID (real Google). Runs before the configuration is loaded.
 *
 * Same site: over plain HTTP the SAML pre-login cookie is SameSite=Lax, and the OneLogin emulator
 * posts its response from the sandbox's origin to ours; the browser only sends that cookie when both
 * are the same site — the same host name (ports do not matter), so both `127.0.0.1` or both
 * `localhost`. The demo therefore names the service by the sandbox's host (PUBLIC_BASE_URL, unless
 * set) and starts the sandbox on the host of a PUBLIC_BASE_URL that says `localhost`.
 */
export const sandboxStep: DemoStep = {
  name: 'sandbox',
  async run(ctx) {
    const heading = 'Provider sandbox';
    const publicBaseUrl = envValue(ctx, 'PUBLIC_BASE_URL');
    const configured = envValue(ctx, 'SANDBOX_URL');
    if (configured) {
      ctx.sandbox = { url: configured.replace(/\/$/, ''), startedByDemo: false };
      alignPublicBaseUrl(ctx, new URL(configured).hostname);
      ctx.print(heading, `using the sandbox at ${ctx.sandbox.url} (SANDBOX_URL)`);
      return;
    }
    if (envValue(ctx, 'GOOGLE_CLIENT_ID')) {
      ctx.print(heading, 'not started: GOOGLE_CLIENT_ID is set, so Casebridge talks to the real Google');
      return;
    }

    const host = publicBaseUrl && new URL(publicBaseUrl).hostname === 'localhost' ? 'localhost' : '127.0.0.1';
    const wanted = Number(envValue(ctx, 'SANDBOX_PORT') ?? 4010);
    if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) throw new Error('SANDBOX_PORT must be a port number (0 = any free port)');
    let port = wanted;
    if (port !== 0 && (await portInUse(host, port))) {
      port = await freePort(host === 'localhost' ? '127.0.0.1' : host);
      ctx.progress(`sandbox port ${wanted} is taken; using ${port}`);
    }
    const sandbox = await startSandbox(emulators, {
      port,
      host,
      providers: { onelogin: idpSigningMaterial(envValue(ctx, 'DATA_DIR') ?? './data') },
    });
    ctx.cleanups.push(() => sandbox.close());
    ctx.sandbox = { url: sandbox.url, startedByDemo: true };
    ctx.env.SANDBOX_URL = sandbox.url;
    // The sandbox's iManage server is on loopback over http, which a real firm's server never may be.
    ctx.env.IMANAGE_ALLOW_PRIVATE_HOSTS ??= 'true';
    alignPublicBaseUrl(ctx, host);
    ctx.print(
      heading,
      `${sandbox.url} (Google and OneLogin emulators, in this process; its accounts and calendars start empty each run)`,
      `ledger  ${sandbox.url}/_sandbox/ledger?provider=google&writes=true   accounts ${sandbox.url}/_sandbox/accounts`,
    );
  },
};

/** Without a PUBLIC_BASE_URL of the user's, names the service by the sandbox's loopback host (see above). */
function alignPublicBaseUrl(ctx: Parameters<DemoStep['run']>[0], sandboxHost: string): void {
  const publicBaseUrl = envValue(ctx, 'PUBLIC_BASE_URL');
  if (!publicBaseUrl) {
    if (sandboxHost === '127.0.0.1' || sandboxHost === 'localhost') {
      ctx.env.PUBLIC_BASE_URL = `http://${sandboxHost}:${envValue(ctx, 'PORT') ?? 3000}`;
    }
    return;
  }
  const own = new URL(publicBaseUrl);
  if (own.protocol === 'http:' && own.hostname !== sandboxHost) {
    ctx.progress(
      `note: PUBLIC_BASE_URL (${own.hostname}) and the sandbox (${sandboxHost}) are different sites over plain HTTP; ` +
        'a browser drops the OneLogin pre-login cookie between them (Google Sign-In still works).',
    );
  }
}

/**
 * The OneLogin emulator's signing key pair, kept in DATA_DIR so the IdP certificate stays the same
 * from one demo run to the next (as a real IdP's does): the organization's SAML configuration then
 * only changes when the sandbox's address does. A sandbox key, for development only.
 */
function idpSigningMaterial(dataDir: string): { privateKeyPem: string; certificatePem: string } {
  const file = path.resolve(dataDir, 'sandbox', 'onelogin-idp.json');
  try {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { privateKeyPem?: unknown; certificatePem?: unknown };
    const monthAhead = Date.now() + 30 * 24 * 3600 * 1000;
    if (
      typeof stored.privateKeyPem === 'string' &&
      typeof stored.certificatePem === 'string' &&
      Date.parse(new X509Certificate(stored.certificatePem).validTo) > monthAhead
    ) {
      return { privateKeyPem: stored.privateKeyPem, certificatePem: stored.certificatePem };
    }
  } catch {
    // Missing, unreadable or about to expire: make a new pair below.
  }
  const material = generateSigningMaterial('OneLogin Account (Casebridge demo sandbox)');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(material), { mode: 0o600 });
  return material;
}
