/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { z } from 'zod';
import { connectorFor } from '../../../connectors/registry.ts';
import type { Connector } from '../../../connectors/types.ts';
import { clientAddress } from '../../api/client-address.ts';
import { type CaseSummary, listAssignedCases, listPracticeAreas } from '../../cases/lookup.ts';
import { createConnection } from '../../connections/service.ts';
import { normaliseCaseScope } from '../../consent/case-scope.ts';
import { CATEGORIES, type CategoryId, isCategoryId } from '../../consent/categories.ts';
import { CURRENT_POLICY_VERSION } from '../../consent/service.ts';
import type { CaseScope } from '../../db/types.ts';
import { type ConsentPreview, previewConsent } from '../consent-preview.ts';
import type { WebApp, WebEnv } from '../env.ts';
import { PageError } from '../errors.ts';
import { fieldLabel } from '../format.ts';
import { Csrf, Layout } from '../layout.tsx';
import { providerOrigins } from '../provider-origins.ts';
import { sendFragment, sendPage } from '../render.ts';

/** Items shown in the preview. */
const PREVIEW_ITEMS = 5;

/** A consent choice as the form sends it (checkboxes repeat their name). */
export interface Choice {
  categories: CategoryId[];
  caseScope: CaseScope;
}

const FormSchema = z.object({
  categories: z.array(z.string().max(64)).max(20),
  scope: z.enum(['all', 'cases', 'practice_areas']).default('all'),
  caseIds: z.array(z.uuid()).max(5000),
  practiceAreas: z.array(z.string().trim().min(1).max(100)).max(100).default([]),
  policyVersion: z.string().max(40).optional(),
});

export function many(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Reads the choice from query parameters (preview) or the posted form (connect); bad input is 400 `validation_failed`. */
export function readChoice(
  platform: string,
  raw: { categories: string[]; scope?: string; caseIds: string[]; practiceAreas?: string[]; policyVersion?: string },
): Choice & { policyVersion?: string } {
  const parsed = FormSchema.safeParse(raw);
  if (!parsed.success) throw new PageError(400, 'validation_failed', 'The form is not valid: reload the page and choose again.');
  const connector = connectorFor(platform)!;
  const bad = parsed.data.categories.filter((c) => !isCategoryId(c) || !connector.manifest.categories.includes(c));
  if (bad.length) throw new PageError(400, 'invalid_categories', `${connector.manifest.displayName} cannot carry: ${bad.join(', ')}`);
  const caseScope: CaseScope =
    parsed.data.scope === 'cases'
      ? { kind: 'cases', caseIds: [...new Set(parsed.data.caseIds)] }
      : parsed.data.scope === 'practice_areas'
        ? normaliseCaseScope({ kind: 'practice_areas', practiceAreas: parsed.data.practiceAreas })
        : { kind: 'all' };
  return { categories: parsed.data.categories as CategoryId[], caseScope, policyVersion: parsed.data.policyVersion };
}

function platformOf(c: Context<WebEnv>) {
  const connector = connectorFor(c.req.param('platform') ?? '');
  if (!connector) throw new PageError(404, 'unknown_platform', 'There is no such platform.');
  if (!connector.oauth || !connector.sync) throw new PageError(404, 'platform_not_oauth', `${connector.manifest.displayName} is not connected from this page.`);
  return connector;
}

/**
 * The consent screen, before any provider redirect: `GET /apps/connect/{platform}` shows each
 * category the platform can carry (plain-language description and the exact fields, from the
 * registry), the connector's minimum pre-selected, the case scope, attestations, the policy version
 * and a preview of the first items exactly as they would leave. `GET …/preview` is the preview
 * alone (the page's script refreshes it on every change; without script the form's "Update
 * preview" reloads the page). `POST` records the consent (method `consent_screen`) with the pending
 * connection and sends the browser to the provider.
 */
export function registerConsentPages(web: WebApp): void {
  web.get('/apps/connect/:platform', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const connector = platformOf(c);
    // A platform connected with more than a consent (an administrator's server first) has its own start.
    if (connector.pages?.card) return c.redirect(connector.pages.card.href, 302);
    const touched = c.req.query('scope') !== undefined;
    const choice = touched
      ? readChoice(connector.manifest.id, {
          categories: c.req.queries('categories') ?? [],
          scope: c.req.query('scope'),
          caseIds: c.req.queries('caseIds') ?? [],
          practiceAreas: c.req.queries('practiceAreas') ?? [],
        })
      : { categories: connector.manifest.defaultCategories, caseScope: { kind: 'all' } as CaseScope };
    const owner = { organizationId: viewer.principal.organizationId, userId: viewer.principal.userId };
    const cases = await listAssignedCases(services.db, owner);
    const practiceAreas = await listPracticeAreas(services.db, owner);
    const preview = await previewFor(c, connector.manifest.id, choice);
    c.set('formTargets', providerOrigins(services.config));
    return sendPage(
      c,
      <Layout
        title={`Connect ${connector.manifest.displayName}`}
        nonce={c.get('nonce')}
        csrfToken={c.get('csrfToken')}
        viewer={viewer}
        current="apps"
        scripts={['/assets/consent.js']}
      >
        <p>
          Choose what Casebridge may send to {connector.manifest.displayName}. Only what you tick leaves, and every transfer is logged. You can change or
          withdraw this at any time.
        </p>
        <ConsentForm
          connector={connector}
          choice={choice}
          cases={cases}
          practiceAreas={practiceAreas}
          preview={preview}
          csrf={c.get('csrfToken')}
          action={`/apps/connect/${connector.manifest.id}`}
          previewUrl={`/apps/connect/${connector.manifest.id}/preview`}
          submitLabel={`Agree and continue to ${connector.manifest.displayName}`}
          next={`Next you sign in to ${connector.manifest.displayName} and allow Casebridge to write to a calendar of its own.`}
          cancel="/apps"
        />
      </Layout>,
    );
  });

  web.get('/apps/connect/:platform/preview', async (c) => {
    const connector = platformOf(c);
    const choice = readChoice(connector.manifest.id, {
      categories: c.req.queries('categories') ?? [],
      scope: c.req.query('scope'),
      caseIds: c.req.queries('caseIds') ?? [],
      practiceAreas: c.req.queries('practiceAreas') ?? [],
    });
    return sendFragment(c, <PreviewBlock preview={await previewFor(c, connector.manifest.id, choice)} />);
  });

  web.post('/apps/connect/:platform', async (c) => {
    const services = c.get('services');
    const viewer = c.get('viewer');
    const connector = platformOf(c);
    const form = await c.req.parseBody({ all: true });
    const { choice, attestations } = readPostedConsent(connector.manifest.id, form);
    const result = await createConnection(services, {
      principal: viewer.principal,
      input: {
        platform: connector.manifest.id,
        categories: choice.categories,
        caseScope: choice.caseScope,
        attestations,
        loginHint: viewer.email,
      },
      // The one place a consent is collected on Casebridge's own consent screen.
      consentMethod: 'consent_screen',
      ip: clientAddress(c),
      userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
    });
    return c.redirect(result.authorizationUrl, 303);
  });
}

/**
 * The posted consent form: the choice (policy version current, at least one category, a non-empty
 * case scope) and the attestations given for the chosen categories. Bad input is a 4xx page.
 */
export function readPostedConsent(platform: string, form: Record<string, string | File | (string | File)[]>) {
  const text = (v: unknown) => many(v as string | string[] | undefined).filter((x): x is string => typeof x === 'string');
  const choice = readChoice(platform, {
    categories: text(form.categories),
    scope: typeof form.scope === 'string' ? form.scope : undefined,
    caseIds: text(form.caseIds),
    practiceAreas: text(form.practiceAreas),
    policyVersion: typeof form.policyVersion === 'string' ? form.policyVersion : undefined,
  });
  if (choice.policyVersion !== CURRENT_POLICY_VERSION) {
    throw new PageError(409, 'policy_version_outdated', 'The consent text changed since this page was shown. Reload the page and choose again.');
  }
  if (!choice.categories.length) throw new PageError(400, 'no_categories', 'Tick at least one kind of data to share.');
  if (choice.caseScope.kind === 'cases' && !choice.caseScope.caseIds.length) {
    throw new PageError(400, 'empty_case_scope', 'Choose at least one case, or share all your cases.');
  }
  if (choice.caseScope.kind === 'practice_areas' && !choice.caseScope.practiceAreas.length) {
    throw new PageError(400, 'empty_case_scope', 'Choose at least one practice area, or share all cases.');
  }
  const attestations: Record<string, string> = {};
  for (const id of choice.categories) {
    const given = form[`attestation:${id}`];
    if (typeof given === 'string') attestations[id] = given;
  }
  return { choice, attestations };
}

/** The consent choices with the live preview: the connect page and the Change page share it. */
export function ConsentForm(props: {
  connector: Connector;
  choice: Choice;
  cases: CaseSummary[];
  /** Practice areas offered as a case scope (none: the choice is not shown). */
  practiceAreas?: string[];
  /** Words of the "all cases" choice (default: the user's own cases). */
  allLabel?: string;
  /** Whether single cases can be chosen (default yes). */
  caseChoice?: boolean;
  /** Fields the form carries along (e.g. an organization's server address chosen on the step before). */
  hidden?: Record<string, string>;
  preview: ConsentPreview | null;
  csrf: string;
  action: string;
  previewUrl: string;
  submitLabel: string;
  next: string;
  cancel: string;
}) {
  const { connector, choice, cases, preview } = props;
  const chosenCases = new Set(choice.caseScope.kind === 'cases' ? choice.caseScope.caseIds : []);
  const chosenAreas = new Set(choice.caseScope.kind === 'practice_areas' ? choice.caseScope.practiceAreas.map((a) => a.toLowerCase()) : []);
  const areas = props.practiceAreas ?? [];
  const caseChoice = props.caseChoice ?? true;
  return (
    <form id="consent-form" method="post" action={props.action} data-preview-url={props.previewUrl}>
      <Csrf token={props.csrf} />
      <input type="hidden" name="policyVersion" value={CURRENT_POLICY_VERSION} />
      {Object.entries(props.hidden ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <fieldset>
        <legend>What to share</legend>
        {connector.manifest.categories.map((id) => {
          const cat = CATEGORIES[id];
          return (
            <div class="choice">
              <input
                type="checkbox"
                id={`cat-${id}`}
                name="categories"
                value={id}
                checked={choice.categories.includes(id)}
                aria-describedby={`cat-${id}-fields`}
              />
              <div>
                <label for={`cat-${id}`}>
                  <strong>{cat.title}</strong>
                  {connector.manifest.defaultCategories.includes(id) ? ' (needed for this platform to be useful)' : ''}
                </label>
                <div>{cat.description}</div>
                <div class="fields" id={`cat-${id}-fields`}>
                  Fields: {cat.fields.map(fieldLabel).join(', ')}
                </div>
                {cat.attestation ? (
                  <div class="choice">
                    <input type="checkbox" id={`att-${id}`} name={`attestation:${id}`} value={cat.attestation} />
                    <label for={`att-${id}`}>{cat.attestation}</label>
                  </div>
                ) : null}
              </div>
            </div>
          );
        })}
      </fieldset>
      <fieldset>
        <legend>Which cases</legend>
        <div class="choice">
          <input type="radio" id="scope-all" name="scope" value="all" checked={choice.caseScope.kind === 'all'} />
          <label for="scope-all">{props.allLabel ?? `All my cases (${cases.length}), and cases assigned to me later`}</label>
        </div>
        {areas.length ? (
          <div class="choice">
            <input type="radio" id="scope-areas" name="scope" value="practice_areas" checked={choice.caseScope.kind === 'practice_areas'} />
            <div>
              <label for="scope-areas">Only the cases of these practice areas (cases added to them later too):</label>
              <ul class="plain" id="practice-areas">
                {areas.map((area, i) => (
                  <li>
                    <div class="choice">
                      <input type="checkbox" id={`area-${i}`} name="practiceAreas" value={area} checked={chosenAreas.has(area.toLowerCase())} />
                      <label for={`area-${i}`}>{area}</label>
                    </div>
                  </li>
                ))}
              </ul>
            </div>
          </div>
        ) : null}
        {caseChoice ? (
          <div class="choice">
            <input type="radio" id="scope-cases" name="scope" value="cases" checked={choice.caseScope.kind === 'cases'} />
            <label for="scope-cases">Only the cases I choose below</label>
          </div>
        ) : null}
        {caseChoice ? (
          <>
            <label for="case-search" class="sr-only">
              Search cases
            </label>
            <input type="search" id="case-search" placeholder="Search cases" hidden />
            <ul class="plain">
              {cases.map((k) => (
                <li data-case-label={`${k.number} ${k.title} ${k.clientName ?? ''}`}>
                  <div class="choice">
                    <input type="checkbox" id={`case-${k.id}`} name="caseIds" value={k.id} checked={chosenCases.has(k.id)} />
                    <label for={`case-${k.id}`}>
                      <strong>{k.number}</strong> {k.title} <span class="muted">({k.eventCount} calendar entries)</span>
                    </label>
                  </div>
                </li>
              ))}
            </ul>
          </>
        ) : null}
      </fieldset>
      <section class="card" aria-labelledby="preview-heading">
        <h2 id="preview-heading">Preview: what {connector.manifest.displayName} would receive</h2>
        <div id="preview" aria-live="polite">
          <PreviewBlock preview={preview} />
        </div>
        <button type="submit" class="secondary" formmethod="get" formaction={props.action} id="update-preview">
          Update preview
        </button>
      </section>
      <p class="muted">
        Consent policy version {CURRENT_POLICY_VERSION}. {props.next}
      </p>
      <div class="actions">
        <button type="submit" id="agree-and-connect">
          {props.submitLabel}
        </button>
        <a class="button secondary" href={props.cancel}>
          Cancel
        </a>
      </div>
    </form>
  );
}

export async function previewFor(c: Context<WebEnv>, platform: string, choice: Choice): Promise<ConsentPreview | null> {
  const viewer = c.get('viewer');
  return previewConsent(c.get('services'), {
    organizationId: viewer.principal.organizationId,
    userId: viewer.principal.userId,
    userEmail: viewer.email,
    platform,
    categories: choice.categories,
    caseScope: choice.caseScope,
    limit: PREVIEW_ITEMS,
  });
}

/** The preview: how many items, the fields that leave, and the first items field by field. */
export function PreviewBlock(props: { preview: ConsentPreview | null }) {
  const p = props.preview;
  if (!p) return <p class="muted">No preview for this platform.</p>;
  if (!p.total) return <p id="preview-summary">With these choices nothing would be sent.</p>;
  return (
    <div>
      <p id="preview-summary" data-total={p.total}>
        {p.total} item{p.total === 1 ? '' : 's'} would be sent, with these fields only: {p.fieldNames.map(fieldLabel).join(', ')}. The first {p.items.length},
        exactly as they would leave:
      </p>
      {p.items.map((item) => (
        <div class="preview-item" data-preview-key={item.key} data-preview-fields={JSON.stringify(item.fields)}>
          <dl class="facts">
            {Object.entries(item.fields).map(([k, v]) => (
              <>
                <dt>{fieldLabel(k)}</dt>
                <dd>{Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)}</dd>
              </>
            ))}
          </dl>
        </div>
      ))}
    </div>
  );
}
