/** @jsxImportSource hono/jsx */
import type { CaseScope } from '../../src/db/types.ts';
import type { WebApp } from '../../src/web/env.ts';
import { PageError } from '../../src/web/errors.ts';
import { Layout } from '../../src/web/layout.tsx';
import type { PageKit } from '../../src/web/page-kit.ts';
import { sendPage } from '../../src/web/render.ts';
import { pageAdmin } from '../../src/web/session.ts';
import { DELETE_POLICY_WORDS } from './connect-pages.tsx';
import { type DELETE_POLICIES, manifest } from './manifest.ts';

/**
 * "Change what is shared" for the organization's iManage connection (administrators only, any of
 * the organization's): `GET /imanage/{id}/change` is the consent screen — categories, the
 * organization's case scope (all cases or chosen practice areas), the preview of what the choices
 * release — starting from the current consent; `POST` records a new consent version (method
 * `consent_screen`, the API's re-grant) and starts the sync that applies it: cases leaving the scope
 * follow the delete policy.
 */
export function registerImanageChangePages(web: WebApp, kit: PageKit): void {
  web.get('/imanage/:id/change', pageAdmin(), async (c) => {
    const view = (await kit.organizationConnections(c, manifest.id)).find((v) => v.id === c.req.param('id'));
    if (!view) throw new PageError(404, 'not_found', 'There is no such iManage connection in your organization.');
    const policy = ((view.settings as { deletePolicy?: (typeof DELETE_POLICIES)[number] }).deletePolicy ?? 'leave') as (typeof DELETE_POLICIES)[number];
    const form = await kit.organizationConsentForm(c, {
      platform: manifest.id,
      action: `/imanage/${view.id}/change`,
      hidden: {},
      cancel: '/imanage',
      initial: { categories: view.categories, caseScope: (view.caseScope as CaseScope | null) ?? { kind: 'all' } },
      submitLabel: 'Save what is shared',
      next: `A new consent version is recorded and a sync applies it at once. Documents of cases leaving the scope: ${DELETE_POLICY_WORDS[policy]}.`,
    });
    return sendPage(
      c,
      <Layout
        title="Change what iManage Work receives"
        nonce={c.get('nonce')}
        csrfToken={c.get('csrfToken')}
        viewer={c.get('viewer')}
        current="apps"
        scripts={['/assets/consent.js']}
      >
        <p class="muted">Currently consent version {view.consent?.version ?? '—'}. The preview shows what the new choices release.</p>
        {form}
      </Layout>,
    );
  });

  web.post('/imanage/:id/change', pageAdmin(), async (c) => {
    const view = (await kit.organizationConnections(c, manifest.id)).find((v) => v.id === c.req.param('id'));
    if (!view) throw new PageError(404, 'not_found', 'There is no such iManage connection in your organization.');
    const version = await kit.changeConsent(c, { platform: manifest.id, id: view.id, form: await c.req.parseBody({ all: true }) });
    return c.redirect(`/imanage?changed=${version}`, 303);
  });
}
