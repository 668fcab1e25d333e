/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { statusForCode } from '../../src/api/error-status.ts';
import { recordAudit } from '../../src/audit/audit-log.ts';
import type { WebApp, WebEnv } from '../../src/web/env.ts';
import { Csrf, Layout, Notice } from '../../src/web/layout.tsx';
import type { PageKit } from '../../src/web/page-kit.ts';
import { sendPage } from '../../src/web/render.ts';
import { pageAdmin } from '../../src/web/session.ts';
import { checkImanageHost, imanageCredentials } from './client.ts';
import { saveFirmClient, viewFirmClient } from './firm-client.ts';
import { createSettingsSchema, DELETE_POLICIES, manifest } from './manifest.ts';

/** What the first step chose, carried to the consent step (query) and posted with the consent (hidden fields). */
export interface HostChoice {
  host: string;
  libraryId: string;
  deletePolicy: string;
}

/** Plain words for each delete policy (the settings page shows them too). */
export const DELETE_POLICY_WORDS: Record<(typeof DELETE_POLICIES)[number], string> = {
  leave: 'Leave them in iManage (the DMS stays the firm’s record)',
  delete: 'Delete them in iManage',
  mark: 'Keep them, marked “removed from Casebridge” in a profile field',
};

const ClientForm = z.object({
  clientId: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/),
  clientSecret: z
    .string()
    .min(1)
    .max(500)
    .regex(/^[\x21-\x7e]+$/),
});

class HostRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/**
 * The settings of a new connection from the first step's answers, checked exactly as the API checks
 * them (`createSettingsSchema`, then `checkImanageHost`: https, no private or local address unless
 * IMANAGE_ALLOW_PRIVATE_HOSTS); a refusal carries the API's stable code.
 */
async function checkedSettings(c: Context<WebEnv>, choice: HostChoice): Promise<Record<string, unknown>> {
  if (!choice.host) throw new HostRefused('invalid_host', 'Enter the address of your iManage server, such as https://imanage.example.com.');
  const refused = await checkImanageHost(c.get('services').config, choice.host);
  if (refused) throw new HostRefused(refused.code, `${refused.message[0]!.toUpperCase()}${refused.message.slice(1)}.`);
  const parsed = createSettingsSchema.safeParse({
    host: choice.host,
    ...(choice.libraryId ? { libraryId: choice.libraryId } : {}),
    ...(choice.deletePolicy ? { deletePolicy: choice.deletePolicy } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new HostRefused('invalid_settings', `${issue.path.join('.') || 'settings'}: ${issue.message}.`);
  }
  return parsed.data;
}

/** Whether authorize can start: the firm's own OAuth client, or the deployment's. */
async function clientConfigured(c: Context<WebEnv>): Promise<boolean> {
  if (await viewFirmClient(c.get('services').db, c.get('viewer').principal.organizationId)) return true;
  try {
    imanageCredentials(c.get('services').config);
    return true;
  } catch {
    return false;
  }
}

const choiceOf = (get: (name: string) => unknown): HostChoice => ({
  host: text(get('host')),
  libraryId: text(get('libraryId')),
  deletePolicy: text(get('deletePolicy')) || 'leave',
});

/**
 * The administrator's connect flow: `GET /imanage/connect` (the server address, library and delete
 * policy, and the firm's OAuth client), `POST /imanage/client` (register the client; the secret is
 * never shown again), `POST /imanage/connect` (checks the address, then the consent screen),
 * `GET|POST /imanage/consent` (the generic consent screen with the preview; the post records the
 * consent, method `consent_screen`, and goes to the firm's sign-in page). Administrators only.
 */
export function registerImanageConnectPages(web: WebApp, kit: PageKit): void {
  for (const path of ['/imanage/connect', '/imanage/client', '/imanage/consent']) web.use(path, pageAdmin());

  web.get('/imanage/connect', async (c) =>
    hostPage(
      c,
      choiceOf((n) => c.req.query(n)),
      null,
    ),
  );

  web.post('/imanage/connect', async (c) => {
    const form = await c.req.parseBody();
    const choice = choiceOf((n) => form[n]);
    try {
      await checkedSettings(c, choice);
      if (!(await clientConfigured(c))) {
        throw new HostRefused('platform_not_configured', 'No OAuth client is registered for iManage: register your firm’s client below first.');
      }
    } catch (err) {
      if (err instanceof HostRefused) return hostPage(c, choice, { code: err.code, message: err.message });
      throw err;
    }
    return c.redirect(`/imanage/consent?${new URLSearchParams({ ...choice })}`, 303);
  });

  web.post('/imanage/client', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const parsed = ClientForm.safeParse(await c.req.parseBody());
    if (!parsed.success) {
      return hostPage(
        c,
        choiceOf(() => ''),
        {
          code: 'validation_failed',
          message: 'Enter the client id and secret your iManage administrator registered (printable characters, no spaces).',
        },
      );
    }
    await saveFirmClient(services, { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId, ...parsed.data });
    await recordAudit(services.db, {
      organizationId: viewer.principal.organizationId,
      actor: { kind: 'user', userId: viewer.principal.userId },
      action: 'imanage_client.update',
      target: `organization:${viewer.principal.organizationId}`,
      details: { clientId: parsed.data.clientId },
    });
    return c.redirect('/imanage/connect?client=saved', 303);
  });

  web.get('/imanage/consent', async (c) => {
    const choice = choiceOf((n) => c.req.query(n));
    try {
      await checkedSettings(c, choice);
    } catch (err) {
      if (err instanceof HostRefused) return hostPage(c, choice, { code: err.code, message: err.message });
      throw err;
    }
    // The post goes on to the firm's own sign-in page (Chromium applies form-action to that redirect).
    c.set('formTargets', [new URL(choice.host).origin]);
    const form = await kit.organizationConsentForm(c, {
      platform: manifest.id,
      action: '/imanage/consent',
      hidden: { ...choice },
      cancel: '/imanage',
    });
    return sendPage(
      c,
      <Layout
        title="Connect iManage Work"
        nonce={c.get('nonce')}
        csrfToken={c.get('csrfToken')}
        viewer={c.get('viewer')}
        current="apps"
        scripts={['/assets/consent.js']}
      >
        <p>
          Choose what Casebridge may file into <strong>{choice.host}</strong> for the whole organization. Only what you tick leaves, and every transfer is
          logged.
        </p>
        {form}
      </Layout>,
    );
  });

  web.post('/imanage/consent', async (c) => {
    const form = await c.req.parseBody({ all: true });
    const choice = choiceOf((n) => form[n]);
    let settings: Record<string, unknown>;
    try {
      settings = await checkedSettings(c, choice);
    } catch (err) {
      if (err instanceof HostRefused) return hostPage(c, choice, { code: err.code, message: err.message });
      throw err;
    }
    return c.redirect(await kit.connectOrganization(c, { platform: manifest.id, settings, form }), 303);
  });
}

async function hostPage(c: Context<WebEnv>, choice: HostChoice, error: { code: string; message: string } | null) {
  const services = c.get('services');
  const client = await viewFirmClient(services.db, c.get('viewer').principal.organizationId);
  const csrf = c.get('csrfToken');
  const status = error ? ((statusForCode(error.code) ?? 400) as 400 | 503) : 200;
  return sendPage(
    c,
    <Layout title="Connect iManage Work" nonce={c.get('nonce')} csrfToken={csrf} viewer={c.get('viewer')} current="apps">
      {error ? (
        <div class="notice notice-error" role="alert" data-error-code={error.code}>
          <p>{error.message}</p>
        </div>
      ) : null}
      {c.req.query('client') === 'saved' ? <Notice kind="ok">The OAuth client is saved. Its secret is stored sealed and never shown again.</Notice> : null}
      <p>
        iManage Work is connected once, by an administrator, for the whole organization: Casebridge files each case’s documents into its matter workspace on
        your firm’s server. Step 1 of 3: the server; then what is shared; then you sign in at iManage.
      </p>
      <form method="post" action="/imanage/connect" class="card" id="host-form">
        <h2>Your iManage server</h2>
        <Csrf token={csrf} />
        <p>
          <label for="imanage-host">Server address</label>
          <br />
          <input type="url" id="imanage-host" name="host" required maxlength={2048} value={choice.host} placeholder="https://imanage.example.com" />
        </p>
        <p>
          <label for="imanage-library">Library (optional: chosen after sign-in if the server has several)</label>
          <br />
          <input type="text" id="imanage-library" name="libraryId" maxlength={64} value={choice.libraryId} placeholder="ACTIVE" />
        </p>
        <fieldset>
          <legend>A document Casebridge stops filing (deleted, or its case left the scope)</legend>
          {DELETE_POLICIES.map((p) => (
            <div class="choice">
              <input type="radio" id={`delete-${p}`} name="deletePolicy" value={p} checked={choice.deletePolicy === p} />
              <label for={`delete-${p}`}>{DELETE_POLICY_WORDS[p]}</label>
            </div>
          ))}
        </fieldset>
        <button type="submit" id="host-continue">
          Continue
        </button>
      </form>
      <form method="post" action="/imanage/client" class="card" id="client-form">
        <h2>Your firm’s OAuth client</h2>
        <Csrf token={csrf} />
        <p id="client-status">
          {client
            ? `Registered: client id ${client.clientId} (secret stored, never shown).`
            : 'None registered: the server’s default client is used, if one is configured.'}
        </p>
        <p>
          <label for="client-id">Client id</label>
          <br />
          <input type="text" id="client-id" name="clientId" maxlength={200} required autocomplete="off" />
        </p>
        <p>
          <label for="client-secret">Client secret</label>
          <br />
          <input type="password" id="client-secret" name="clientSecret" maxlength={500} required autocomplete="off" />
        </p>
        <button type="submit" class="secondary" id="save-client">
          {client ? 'Replace the client' : 'Save the client'}
        </button>
      </form>
    </Layout>,
    status,
  );
}
