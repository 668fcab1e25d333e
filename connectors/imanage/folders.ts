import { sql } from 'kysely';
import { PermanentRunError, ProviderStepError } from '../../src/sync/errors.ts';
import { TransferBlockedError, type TransferItem } from '../../src/transfers/types.ts';
import type { SyncContext } from '../types.ts';
import { hostOf, type ImanageApi, openImanage } from './client.ts';
import { classifyImanageError, LibraryNotChosenError, UnmappedCaseError } from './errors.ts';
import type { ImanageSettings } from './manifest.ts';
import { clientMatterOf } from './project.ts';

/**
 * Where documents go: discovery of the server's customer id and libraries (once), and per case the
 * matter workspace found by client/matter numbers (custom1/custom2) — created from the template
 * when the policy says so, otherwise reported as unmapped — and the folder inside it (created if
 * missing). Every call goes through the gate as a `provision` transfer (a workspace lookup
 * discloses the case number, so it is consent-checked and logged as such); results are remembered in
 * `imanage_case_folders`, so a known case costs no call.
 */

export const SYNC_PURPOSE = 'document_filing';

/**
 * The recipient named in the transfer log: the firm's server (its host), since an organization-level
 * connection has no personal account; the library and folder are the destination.
 */
export function recipientAccount(connection: SyncContext['connection']): string {
  return connection.externalAccount ?? hostOf(connection.settings);
}

async function provision<T>(
  ctx: SyncContext,
  item: Pick<TransferItem, 'itemKey' | 'subjects'> & { destination: string | null; caseNumber?: string },
  step: string,
  perform: () => Promise<{ value: T; status: number; remoteId?: string | null }>,
): Promise<T> {
  // A workspace search or creation discloses the case number (as client/matter numbers): it is
  // consent-checked and logged as the `caseNumber` field of `documents.files`. Discovery carries nothing.
  const carries = item.caseNumber !== undefined;
  const r = await ctx.services.gate.send(
    { connectionId: ctx.connection.id, purpose: SYNC_PURPOSE, actor: ctx.actor },
    {
      operation: 'provision',
      categories: carries ? ['documents.files'] : [],
      fields: carries ? { caseNumber: item.caseNumber } : {},
      subjects: item.subjects,
      itemKey: item.itemKey,
      recipient: { account: recipientAccount(ctx.connection), destination: item.destination },
    },
    perform,
  );
  if (r.outcome === 'blocked') throw new TransferBlockedError(r.reason, r.transferId);
  if (r.outcome === 'failed') throw new ProviderStepError(step, classifyImanageError(r.error));
  return r.value;
}

/** Discovery, when the connection does not know its customer id yet; the library chosen or the only one. */
export async function prepareImanage(ctx: SyncContext, _options: { verify: boolean }): Promise<{ settings?: Record<string, unknown>; calls: number }> {
  const s = ctx.connection.settings as unknown as ImanageSettings;
  if (s.customerId !== undefined && s.libraryId) return { calls: 0 };
  const api = openImanage({ config: ctx.services.config, settings: ctx.connection.settings, accessToken: ctx.accessToken });
  const found = await provision(ctx, { itemKey: 'discovery', subjects: {}, destination: null }, 'discover the iManage server', async () => {
    const d = await api.discover();
    return { value: d, status: d.status };
  });
  const libraryId = s.libraryId ?? (found.libraries.length === 1 ? found.libraries[0] : undefined);
  const settings = { customerId: found.customerId, libraries: found.libraries, ...(libraryId ? { libraryId } : {}) };
  Object.assign(ctx.connection.settings, settings);
  if (!libraryId) {
    // Remembered although the run stops: the administrator then chooses from the server's own libraries.
    await ctx.services.db
      .updateTable('connections')
      .set({ settings: sql`settings || ${JSON.stringify(settings)}::jsonb` })
      .where('id', '=', ctx.connection.id)
      .execute();
    throw new PermanentRunError('library_required', new LibraryNotChosenError(found.libraries).message);
  }
  if (!found.libraries.includes(libraryId)) {
    throw new PermanentRunError('library_unknown', `the iManage server has no library ${libraryId}; choose one of ${found.libraries.join(', ')}`);
  }
  return { settings, calls: 1 };
}

export interface CaseFolder {
  caseId: string;
  client: string;
  matter: string;
  workspaceId: string;
  folderId: string;
}

/**
 * The folder of each case, from memory or the server. Cases that cannot be mapped map to the error
 * to report (their documents fail permanently with that message; nothing of them is sent).
 */
export async function foldersFor(
  ctx: SyncContext,
  cases: Array<{ caseId: string; caseNumber: string }>,
  counter: { calls: number },
): Promise<Map<string, CaseFolder | UnmappedCaseError | Error>> {
  const s = ctx.connection.settings as unknown as ImanageSettings;
  const out = new Map<string, CaseFolder | UnmappedCaseError | Error>();
  if (!cases.length) return out;
  const known = await ctx.services.db
    .selectFrom('imanage_case_folders')
    .selectAll()
    .where('connection_id', '=', ctx.connection.id)
    .where(
      'case_id',
      'in',
      cases.map((c) => c.caseId),
    )
    .execute();
  for (const k of known)
    out.set(k.case_id, { caseId: k.case_id, client: k.client_number, matter: k.matter_number, workspaceId: k.workspace_id, folderId: k.folder_id });
  let api: ImanageApi | null = null;
  const folderName = s.folderName ?? ctx.services.config.IMANAGE_FOLDER_NAME;
  for (const c of cases) {
    if (out.has(c.caseId)) continue;
    const cm = clientMatterOf(c.caseNumber, s.caseNumberPattern ?? '^(?<client>[^-]+)-(?<matter>.+)$');
    if (!cm) {
      out.set(c.caseId, new UnmappedCaseError(`case ${c.caseNumber}: its number does not split into client and matter numbers (settings.caseNumberPattern)`));
      continue;
    }
    api ??= openImanage({ config: ctx.services.config, settings: ctx.connection.settings, accessToken: ctx.accessToken });
    const client = api;
    try {
      const mapped = await provision<{ workspaceId: string; folderId: string; created: boolean } | null>(
        ctx,
        { itemKey: `workspace:${c.caseId}`, subjects: { caseIds: [c.caseId] }, destination: s.libraryId ?? null, caseNumber: c.caseNumber },
        'map the case to its workspace',
        async () => {
          counter.calls += 1;
          const found = await client.findWorkspaces({ custom1: cm.client, custom2: cm.matter });
          let workspace = found.data?.[0];
          let created = false;
          if (!workspace) {
            // The search was answered: the log records it as sent; the case is reported below.
            if (s.unmappedPolicy !== 'create') return { value: null, status: found.status };
            counter.calls += 1;
            workspace = (
              await client.createWorkspace({
                name: `${cm.client}-${cm.matter}`,
                custom1: cm.client,
                custom2: cm.matter,
                ...(s.templateWorkspaceId ? { template_id: s.templateWorkspaceId } : {}),
              })
            ).data;
            created = true;
          }
          counter.calls += 1;
          const children = await client.children(workspace.id, 'workspace');
          let folder = children.data?.find((f) => f.name === folderName);
          let status = children.status;
          if (!folder) {
            counter.calls += 1;
            const made = await client.createFolder(workspace.id, folderName);
            folder = made.data;
            status = made.status;
          }
          return { value: { workspaceId: workspace.id, folderId: folder.id, created }, status, remoteId: folder.id };
        },
      );
      if (!mapped) {
        out.set(
          c.caseId,
          new UnmappedCaseError(
            `case ${c.caseNumber}: no iManage workspace has client ${cm.client} and matter ${cm.matter}; create it in iManage, or let Casebridge create it (settings.unmappedPolicy "create")`,
          ),
        );
        continue;
      }
      await ctx.services.db
        .insertInto('imanage_case_folders')
        .values({
          connection_id: ctx.connection.id,
          case_id: c.caseId,
          client_number: cm.client,
          matter_number: cm.matter,
          workspace_id: mapped.workspaceId,
          folder_id: mapped.folderId,
          workspace_created: mapped.created,
        })
        .onConflict((oc) =>
          oc.columns(['connection_id', 'case_id']).doUpdateSet({ workspace_id: mapped.workspaceId, folder_id: mapped.folderId, updated_at: new Date() }),
        )
        .execute();
      out.set(c.caseId, { caseId: c.caseId, client: cm.client, matter: cm.matter, workspaceId: mapped.workspaceId, folderId: mapped.folderId });
    } catch (err) {
      out.set(c.caseId, err instanceof Error ? err : new Error(String(err)));
    }
  }
  return out;
}
