import type { TransferItem } from '../../src/transfers/types.ts';
import type { PlanStep, StepResult, SyncContext } from '../types.ts';
import { ProviderRequestError } from '../../src/transfers/clients/http.ts';
import { type ImanageApi, type ImanageUpload, openImanage } from './client.ts';
import { classifyImanageError } from './errors.ts';
import { type CaseFolder, foldersFor, recipientAccount, SYNC_PURPOSE } from './folders.ts';
import type { ImanageSettings } from './manifest.ts';
import { profileOf, splitHash } from './project.ts';

/**
 * Files documents through the outbound gate:
 * - create → upload into the case's folder (multipart profile + file, streamed from the blob store).
 *   iManage chooses ids, so every upload is stamped with the item key in a profile field
 *   (`keyField`); a create that was attempted before (an intent for the key is in the transfer log:
 *   the earlier try may have landed) first searches for the stamp and adopts what it finds;
 * - update with new content → a new version of the same document; metadata only → a profile update,
 *   no content sent;
 * - delete → left in iManage (the DMS is the firm's record); Casebridge stops tracking it. No call.
 * A 429 stops the rest of the chunk (not sent, no row); the engine waits Retry-After.
 */

/** A file the blob store no longer has: nothing was sent. */
class MissingFileError extends Error {
  readonly code = 'not_sent_file_missing';
  readonly notSent = true;
  constructor() {
    super('the document file is missing from the blob store');
    this.name = 'MissingFileError';
  }
}

const baseId = (remoteId: string) => remoteId.replace(/\.\d+$/, '');

/** Keys of creates that were attempted before (their upload may have landed). */
async function attemptedBefore(ctx: SyncContext, keys: string[]): Promise<Set<string>> {
  if (!keys.length) return new Set();
  const rows = await ctx.services.db
    .selectFrom('transfer_log')
    .select('item_key')
    .distinct()
    .where('connection_id', '=', ctx.connection.id)
    .where('operation', '=', 'create')
    .where('outcome', '=', 'intent')
    .where('item_key', 'in', keys)
    .execute();
  return new Set(rows.flatMap((r) => (r.item_key ? [r.item_key] : [])));
}

export async function applyImanageSteps(ctx: SyncContext, steps: PlanStep[], options: { concurrency: number }): Promise<StepResult[]> {
  const s = ctx.connection.settings as unknown as ImanageSettings;
  const keyField = s.keyField ?? 'custom16';
  const results = new Array<StepResult | undefined>(steps.length);
  const counter = { calls: 0 };

  // Deletes: policy "leave" — no call, only stop tracking.
  steps.forEach((step, i) => {
    if (step.op === 'delete') results[i] = { key: step.key, op: 'delete', outcome: 'done', remoteId: step.current.remoteId, etag: null, calls: 0 };
  });
  const writes = steps.flatMap((step, i) => (step.op === 'delete' ? [] : [{ step, i }]));
  if (!writes.length) return results as StepResult[];

  const cases = new Map<string, string>();
  for (const { step } of writes) cases.set(step.desired.caseId, String((step.desired.fields as { caseNumber?: unknown }).caseNumber ?? ''));
  const folders = await foldersFor(
    ctx,
    [...cases].map(([caseId, caseNumber]) => ({ caseId, caseNumber })),
    counter,
  );
  const ready: Array<{ step: Exclude<PlanStep, { op: 'delete' }>; i: number; folder: CaseFolder }> = [];
  for (const { step, i } of writes) {
    const folder = folders.get(step.desired.caseId);
    if (!folder || folder instanceof Error) {
      const error = classifyImanageError(folder ?? new Error('no folder'));
      results[i] = { key: step.key, op: step.op, outcome: 'failed', error, calls: 0 };
    } else ready.push({ step, i, folder });
  }
  const retried = await attemptedBefore(
    ctx,
    ready.filter((r) => r.step.op === 'create').map((r) => r.step.key),
  );

  let api: ImanageApi | null = null;
  const client = () => (api ??= openImanage({ config: ctx.services.config, settings: ctx.connection.settings, accessToken: ctx.accessToken }));
  const calls = new Array<number>(ready.length).fill(0);
  const stop = new AbortController();
  const items: TransferItem[] = ready.map(({ step, folder }) => ({
    operation: step.op,
    categories: ['documents.files', 'documents.metadata'],
    subjects: step.desired.subjects,
    recipient: { account: recipientAccount(ctx.connection), destination: `${s.libraryId}/${folder.folderId}` },
    fields: step.desired.fields as Record<string, unknown>,
    itemKey: step.key,
  }));

  const sent = await ctx.services.gate.sendMany(
    { connectionId: ctx.connection.id, purpose: SYNC_PURPOSE, actor: ctx.actor },
    items,
    async (minimised, _item, j) => {
      const { step, folder } = ready[j]!;
      const api = client();
      const count = async <T>(p: () => Promise<T>): Promise<T> => {
        calls[j]! += 1;
        try {
          return await p();
        } catch (err) {
          if (err instanceof ProviderRequestError && err.status === 429) stop.abort(err as Error);
          throw err;
        }
      };
      const profile = profileOf(minimised, { keyField, itemKey: step.key, client: folder.client, matter: folder.matter });
      const upload = async (): Promise<ImanageUpload> => {
        const sha = String(minimised.content ?? '');
        const content = sha ? await ctx.services.blobs.open(sha) : null;
        if (!content) throw new MissingFileError();
        const meta = step.desired.meta as { mimeType?: string; size?: number } | undefined;
        return {
          profile,
          fileName: String(minimised.fileName ?? 'document'),
          contentType: meta?.mimeType ?? 'application/octet-stream',
          size: meta?.size ?? 0,
          content,
        };
      };
      if (step.op === 'create') {
        if (retried.has(step.key)) {
          const found = await count(() => api.searchDocuments({ [keyField]: step.key }));
          const existing = found.data?.[0];
          if (existing) return { value: { remoteId: existing.id }, status: found.status, remoteId: existing.id, bytes: 0 };
        }
        const r = await count(async () => api.uploadDocument(folder.folderId, await upload()));
        return { value: { remoteId: r.document.id }, status: r.status, remoteId: r.document.id, bytes: r.bytesSent };
      }
      const contentChanged = splitHash(step.current.hash).content !== splitHash(step.desired.hash).content;
      if (contentChanged) {
        const r = await count(async () => api.uploadVersion(baseId(step.current.remoteId), await upload()));
        return { value: { remoteId: r.document.id }, status: r.status, remoteId: r.document.id, bytes: r.bytesSent };
      }
      const r = await count(() => api.updateProfile(step.current.remoteId, profile));
      return { value: { remoteId: r.data?.id ?? step.current.remoteId }, status: r.status, remoteId: r.data?.id ?? step.current.remoteId, bytes: r.bytesSent };
    },
    { concurrency: options.concurrency, signal: stop.signal },
  );

  sent.forEach((r, j) => {
    const { step, i } = ready[j]!;
    if (r.outcome === 'sent') results[i] = { key: step.key, op: step.op, outcome: 'done', remoteId: r.value.remoteId, etag: null, calls: calls[j]! };
    else if (r.outcome === 'blocked') results[i] = { key: step.key, op: step.op, outcome: 'blocked', reason: r.reason, calls: 0 };
    else {
      // Items the chunk did not send after a 429 are rate limited like the call that stopped it.
      const error = stop.signal.aborted && calls[j] === 0 ? classifyImanageError(stop.signal.reason) : classifyImanageError(r.error);
      results[i] = { key: step.key, op: step.op, outcome: 'failed', error, calls: calls[j]! };
    }
  });
  // Mapping calls are counted on the first result, so the engine's accounting sees them.
  const first = results.find((r) => r && r.outcome !== 'blocked');
  if (first && first.outcome !== 'blocked') first.calls += counter.calls;
  return results as StepResult[];
}
