/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { createApiKey, listApiKeys, revokeApiKey } from '../../../auth/api-keys.ts';
import type { WebApp, WebEnv } from '../../env.ts';
import { PageError } from '../../errors.ts';
import { Csrf, Notice } from '../../layout.tsx';
import { sendPage } from '../../render.ts';
import { AdminPage, utc } from './common.tsx';

const UUID = z.uuid();

/**
 * `/admin/api-keys`: the organization's API keys (name, prefix, created, last used, revoked). A new
 * key is shown once, in the answer to the post that created it (never in a link or a redirect);
 * only its hash is stored. Same `createApiKey` / `listApiKeys` / `revokeApiKey` as the API.
 */
export function registerApiKeyPages(web: WebApp): void {
  web.get('/admin/api-keys', async (c) => apiKeysPage(c, null));

  web.post('/admin/api-keys', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const form = await c.req.parseBody();
    const name = typeof form.name === 'string' ? form.name.trim() : '';
    if (!name || name.length > 100) throw new PageError(400, 'validation_failed', 'Give the key a name (up to 100 characters).');
    const created = await createApiKey(services.db, { organizationId, name });
    services.logger.info({ organizationId, apiKeyId: created.id }, 'api key created');
    return apiKeysPage(c, { name, apiKey: created.apiKey });
  });

  web.post('/admin/api-keys/:id/revoke', async (c) => {
    const services = c.get('services');
    const organizationId = c.get('viewer').principal.organizationId;
    const id = c.req.param('id');
    if (!UUID.safeParse(id).success || !(await revokeApiKey(services.db, { organizationId, id }))) {
      throw new PageError(404, 'not_found', 'There is no such live API key in your organization.');
    }
    services.logger.info({ organizationId, apiKeyId: id }, 'api key revoked');
    return c.redirect('/admin/api-keys?revoked=1', 303);
  });
}

async function apiKeysPage(c: Context<WebEnv>, created: { name: string; apiKey: string } | null) {
  const services = c.get('services');
  const keys = await listApiKeys(services.db, { organizationId: c.get('viewer').principal.organizationId, order: 'newest' });
  const csrf = c.get('csrfToken');
  return sendPage(
    c,
    <AdminPage c={c} title="API keys">
      {created ? (
        <Notice kind="ok">
          <p>The key “{created.name}” is created. Copy it now: it is shown only this once.</p>
          <p class="secret">
            <label for="new-api-key">API key</label>
            <input type="text" id="new-api-key" readonly value={created.apiKey} class="mono" />
          </p>
        </Notice>
      ) : null}
      {c.req.query('revoked') === '1' ? <Notice kind="ok">The key is revoked: the next request with it is refused.</Notice> : null}
      <form method="post" action="/admin/api-keys" class="card">
        <Csrf token={csrf} />
        <p>
          <label for="key-name">Name (what the key is for)</label>
          <br />
          <input type="text" id="key-name" name="name" required maxlength={100} />
        </p>
        <button type="submit" id="create-key">
          Create an API key
        </button>
      </form>
      <section class="table-wrap" tabindex={0} aria-label="API keys (scrolls sideways)">
        <table id="api-keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Starts with</th>
              <th scope="col">Created (UTC)</th>
              <th scope="col">Last used (UTC)</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr data-key-id={k.id}>
                <td>{k.name}</td>
                <td class="mono">{k.prefix}…</td>
                <td>{utc(k.createdAt)}</td>
                <td>{k.lastUsedAt ? utc(k.lastUsedAt) : 'never'}</td>
                <td>
                  {k.revokedAt ? (
                    `revoked ${utc(k.revokedAt)}`
                  ) : (
                    <form method="post" action={`/admin/api-keys/${k.id}/revoke`} class="inline">
                      <Csrf token={csrf} />
                      <button type="submit" class="danger">
                        Revoke<span class="sr-only"> {k.name}</span>
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </AdminPage>,
  );
}
