/** @jsxImportSource hono/jsx */
import { connectorFor } from '../../../connectors/registry.ts';
import { clientAddress } from '../../api/client-address.ts';
import { listAssignedCases, listPracticeAreas } from '../../cases/lookup.ts';
import { getConnection } from '../../connections/service.ts';
import { changeConsent } from '../../consent/change.ts';
import type { CaseScope } from '../../db/types.ts';
import type { WebApp } from '../env.ts';
import { PageError } from '../errors.ts';
import { Layout } from '../layout.tsx';
import { sendPage } from '../render.ts';
import { ConsentForm, many, previewFor, readChoice } from './consent.tsx';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Change what a connection shares: `GET /apps/{id}/change` shows the consent form with the current
 * choice and the preview; `POST` records a new consent version (method `consent_screen`, through
 * the same `changeConsent` as the API), which takes effect at once and reconciles the platform.
 * Withdrawing everything is Disconnect.
 */
export function registerChangePages(web: WebApp): void {
  web.get('/apps/:id/change', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new PageError(404, 'not_found', 'There is no such connection.');
    const view = await getConnection(services, { principal: viewer.principal, id });
    const connector = connectorFor(view.platform);
    if (view.userId !== viewer.principal.userId || !connector?.sync) throw new PageError(404, 'not_found', 'There is no such connection of yours.');
    if (view.status === 'revoked') throw new PageError(409, 'connection_revoked', 'This connection is disconnected; connect the account again.');
    const touched = c.req.query('scope') !== undefined;
    const choice = touched
      ? readChoice(view.platform, {
          categories: c.req.queries('categories') ?? [],
          scope: c.req.query('scope'),
          caseIds: c.req.queries('caseIds') ?? [],
          practiceAreas: c.req.queries('practiceAreas') ?? [],
        })
      : { categories: view.categories, caseScope: (view.caseScope ?? { kind: 'all' }) as CaseScope };
    const owner = { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId };
    const cases = await listAssignedCases(services.db, owner);
    const practiceAreas = await listPracticeAreas(services.db, owner);
    return sendPage(
      c,
      <Layout
        title={`Change what ${view.platformName} receives`}
        nonce={c.get('nonce')}
        csrfToken={c.get('csrfToken')}
        viewer={viewer}
        current="apps"
        scripts={['/assets/consent.js']}
      >
        <p>
          {view.account ?? view.platformName} currently receives consent version {view.consent?.version ?? '—'}. Saving makes a new version that applies at
          once: what you untick is removed from {view.platformName} at the next sync, which starts now.
        </p>
        <ConsentForm
          connector={connector}
          choice={choice}
          cases={cases}
          practiceAreas={practiceAreas}
          preview={await previewFor(c, view.platform, choice)}
          csrf={c.get('csrfToken')}
          action={`/apps/${view.id}/change`}
          previewUrl={`/apps/connect/${view.platform}/preview`}
          submitLabel="Save the new choice"
          next="To stop sharing entirely, disconnect instead."
          cancel={`/apps/${view.id}`}
        />
      </Layout>,
    );
  });

  web.post('/apps/:id/change', async (c) => {
    const viewer = c.get('viewer');
    const id = c.req.param('id');
    if (!UUID.test(id)) throw new PageError(404, 'not_found', 'There is no such connection.');
    const row = await c.get('services').db.selectFrom('connections').select('platform').where('id', '=', id).executeTakeFirst();
    if (!row) throw new PageError(404, 'not_found', 'There is no such connection.');
    const form = await c.req.parseBody({ all: true });
    const choice = readChoice(row.platform, {
      categories: many(form.categories as string | string[] | undefined),
      scope: typeof form.scope === 'string' ? form.scope : undefined,
      caseIds: many(form.caseIds as string | string[] | undefined),
      practiceAreas: many(form.practiceAreas as string | string[] | undefined),
      policyVersion: typeof form.policyVersion === 'string' ? form.policyVersion : undefined,
    });
    if (!choice.categories.length) throw new PageError(400, 'no_categories', 'Tick at least one kind of data, or disconnect to stop sharing.');
    if (choice.caseScope.kind === 'cases' && !choice.caseScope.caseIds.length) {
      throw new PageError(400, 'empty_case_scope', 'Choose at least one case, or share all your cases.');
    }
    if (choice.caseScope.kind === 'practice_areas' && !choice.caseScope.practiceAreas.length) {
      throw new PageError(400, 'empty_case_scope', 'Choose at least one practice area, or share all your cases.');
    }
    const attestations: Record<string, string> = {};
    for (const cat of choice.categories) {
      const given = form[`attestation:${cat}`];
      if (typeof given === 'string') attestations[cat] = given;
    }
    await changeConsent(c.get('services'), {
      principal: viewer.principal,
      connectionId: id,
      categories: choice.categories,
      caseScope: choice.caseScope,
      // Collected on Casebridge's own consent screen.
      method: 'consent_screen',
      attestations,
      policyVersion: choice.policyVersion ?? '',
      ip: clientAddress(c),
      userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
    });
    return c.redirect(`/apps/${id}?changed=1`, 303);
  });
}
