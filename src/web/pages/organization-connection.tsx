/** @jsxImportSource hono/jsx */
import type { Context } from 'hono';
import { connectorFor } from '../../../connectors/registry.ts';
import { clientAddress } from '../../api/client-address.ts';
import { listPracticeAreas } from '../../cases/lookup.ts';
import { type ConnectionView, createConnection, listOrganizationConnections, updateConnectionSettings } from '../../connections/service.ts';
import type { CategoryId } from '../../consent/categories.ts';
import { changeConsent } from '../../consent/change.ts';
import type { CaseScope } from '../../db/types.ts';
import type { WebEnv } from '../env.ts';
import { PageError } from '../errors.ts';
import type { KitConnectionView, PageKit } from '../page-kit.ts';
import { Progress } from './connection.tsx';
import { ConsentForm, previewFor, readChoice, readPostedConsent } from './consent.tsx';

/**
 * The pieces of the pages of an organization-level platform (a firm's own server an administrator
 * connects for everyone, `manifest.level: 'organization'`), for the connector that brings those
 * pages: connectors do not reach the connections module themselves. Each calls the same domain
 * function as the API (`createConnection` with the consent method `consent_screen`,
 * `listOrganizationConnections`, `updateConnectionSettings`); the platform's own settings (its
 * server, its library) come from the connector's page.
 */

function organizationPlatform(platform: string) {
  const connector = connectorFor(platform);
  if (!connector?.oauth || !connector.sync || connector.manifest.level !== 'organization') {
    throw new PageError(404, 'unknown_platform', 'There is no such platform.');
  }
  return connector;
}

/** The organization's live connections of the platform, newest first (every member may see them). */
export function organizationConnections(c: Context<WebEnv>, platform: string): Promise<ConnectionView[]> {
  return listOrganizationConnections(c.get('services'), { principal: c.get('viewer').principal, platform: organizationPlatform(platform).manifest.id });
}

/**
 * The consent form of an organization-level platform: the generic one (categories with their fields,
 * attestations, policy version, the live preview through the connector's projection and the gate)
 * with the organization's case scopes — all cases, or the cases of chosen practice areas. `hidden`
 * carries the settings chosen on the step before (e.g. the server address).
 */
export async function organizationConsentForm(
  c: Context<WebEnv>,
  props: {
    platform: string;
    action: string;
    hidden: Record<string, string>;
    cancel: string;
    /** The choices shown before the user changes any (default: the connector's minimum, all cases). */
    initial?: { categories: CategoryId[]; caseScope: CaseScope };
    submitLabel?: string;
    next?: string;
  },
) {
  const connector = organizationPlatform(props.platform);
  const viewer = c.get('viewer');
  const touched = c.req.query('scope') !== undefined;
  const choice = touched
    ? readChoice(connector.manifest.id, {
        categories: c.req.queries('categories') ?? [],
        scope: c.req.query('scope'),
        caseIds: [],
        practiceAreas: c.req.queries('practiceAreas') ?? [],
      })
    : (props.initial ?? { categories: connector.manifest.defaultCategories, caseScope: { kind: 'all' } as CaseScope });
  const practiceAreas = await listPracticeAreas(c.get('services').db, { organizationId: viewer.principal.organizationId, userId: null });
  return (
    <ConsentForm
      connector={connector}
      choice={choice}
      cases={[]}
      caseChoice={false}
      practiceAreas={practiceAreas}
      allLabel="All of the organization’s cases, and cases added later"
      hidden={props.hidden}
      preview={await previewFor(c, connector.manifest.id, choice)}
      csrf={c.get('csrfToken')}
      action={props.action}
      previewUrl={`/apps/connect/${connector.manifest.id}/preview`}
      submitLabel={props.submitLabel ?? `Agree and continue to ${connector.manifest.displayName}`}
      next={props.next ?? `Next you sign in to ${connector.manifest.displayName} as the firm's administrator and allow Casebridge to file documents.`}
      cancel={props.cancel}
    />
  );
}

/**
 * Records the posted consent (method `consent_screen`) with a pending connection carrying
 * `settings`, and returns the provider's authorization URL. Administrators only (the domain refuses
 * anyone else with `admin_required`).
 */
export async function connectOrganization(
  c: Context<WebEnv>,
  params: { platform: string; settings: Record<string, unknown>; form: Record<string, string | File | (string | File)[]> },
): Promise<string> {
  const connector = organizationPlatform(params.platform);
  const { choice, attestations } = readPostedConsent(connector.manifest.id, params.form);
  const viewer = c.get('viewer');
  const result = await createConnection(c.get('services'), {
    principal: viewer.principal,
    input: { platform: connector.manifest.id, categories: choice.categories, caseScope: choice.caseScope, attestations, settings: params.settings },
    consentMethod: 'consent_screen',
    ip: clientAddress(c),
    userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
  });
  return result.authorizationUrl;
}

/** Changes the connection's settings (validated by the connector's patch schema) and starts the sync that applies them. */
export async function changeOrganizationSettings(c: Context<WebEnv>, id: string, settings: Record<string, unknown>): Promise<void> {
  await updateConnectionSettings(c.get('services'), { principal: c.get('viewer').principal, id, settings });
}

/**
 * Records the posted choices as a new consent version of the organization's connection (method
 * `consent_screen`, through `changeConsent`, the API's re-grant) and starts the sync that applies
 * it: cases leaving the scope follow the connection's delete policy. Administrators only.
 */
export async function changeOrganizationConsent(
  c: Context<WebEnv>,
  params: { platform: string; id: string; form: Record<string, string | File | (string | File)[]> },
): Promise<number> {
  const connector = organizationPlatform(params.platform);
  const { choice, attestations } = readPostedConsent(connector.manifest.id, params.form);
  const consent = await changeConsent(c.get('services'), {
    principal: c.get('viewer').principal,
    connectionId: params.id,
    categories: choice.categories,
    caseScope: choice.caseScope,
    method: 'consent_screen',
    attestations,
    policyVersion: choice.policyVersion,
    ip: clientAddress(c),
    userAgent: c.req.header('user-agent')?.slice(0, 500) ?? null,
  });
  return consent.version;
}

/** The kit connectors' pages receive (`ConnectorPages.register(web, kit)`). */
export const pageKit: PageKit = {
  organizationConnections,
  organizationConsentForm,
  connectOrganization,
  changeSettings: changeOrganizationSettings,
  changeConsent: changeOrganizationConsent,
  Progress: (props: { view: KitConnectionView; liveUrl: string }) => <Progress view={props.view as ConnectionView} liveUrl={props.liveUrl} />,
};
