import { ProviderRequestError } from '../../src/transfers/clients/http.ts';
import type { BlockReason, TransferActor } from '../../src/transfers/types.ts';
import type { ConnectorServices } from '../types.ts';
import type { ImanageApi } from './client.ts';
import { recipientAccount } from './folders.ts';
import { type ImanageSettings, REMOVED_MARK } from './manifest.ts';

/**
 * The `delete` and `mark` policies: what happens in iManage to a document Casebridge stops filing
 * (deleted in Casebridge, its case out of the consent's scope, or a revocation that purges). Each
 * removal is a gated `delete` transfer (identifiers only; the mark is a constant, no case data):
 * `delete` → `DELETE /documents/{id}`; `mark` → a profile update setting `markField` to
 * "removed from Casebridge", the document and its versions untouched. A document already gone (404)
 * counts as removed. A 429 stops the rest (not sent).
 */

export type RemovalResult =
  | { outcome: 'done'; calls: number }
  | { outcome: 'blocked'; reason: BlockReason }
  | { outcome: 'failed'; error: unknown; calls: number };

export async function removeDocuments(
  ctx: {
    services: ConnectorServices;
    connection: { id: string; settings: Record<string, unknown>; externalAccount?: string | null };
    actor: TransferActor;
  },
  params: {
    policy: 'delete' | 'mark';
    markField: string;
    keyField: string;
    purpose: string;
    client: () => ImanageApi;
    stop: AbortController;
    concurrency: number;
  },
  documents: Array<{ key: string; remoteId: string; caseId: string | null }>,
): Promise<RemovalResult[]> {
  if (!documents.length) return [];
  const s = ctx.connection.settings as unknown as ImanageSettings;
  if (params.policy === 'mark' && params.markField === params.keyField) {
    const error = new Error('the mark field is the key field: marking would erase the stamp that prevents duplicates');
    return documents.map(() => ({ outcome: 'failed', error, calls: 0 }));
  }
  const calls = new Array<number>(documents.length).fill(0);
  const sent = await ctx.services.gate.sendMany(
    { connectionId: ctx.connection.id, purpose: params.purpose, actor: ctx.actor },
    documents.map((d) => ({
      operation: 'delete' as const,
      categories: ['documents.files' as const],
      subjects: { ...(d.caseId ? { caseIds: [d.caseId] } : {}), documentIds: [d.key.replace(/^document:/, '')] },
      recipient: { account: recipientAccount(ctx.connection as Parameters<typeof recipientAccount>[0]), destination: `${s.libraryId ?? ''}/${d.remoteId}` },
      fields: {},
      itemKey: d.key,
    })),
    async (_m, _item, j) => {
      const d = documents[j]!;
      const api = params.client();
      calls[j]! += 1;
      try {
        if (params.policy === 'delete') {
          const r = await api.deleteDocument(d.remoteId.replace(/\.\d+$/, ''));
          return { value: null, status: r.status, remoteId: d.remoteId };
        }
        const r = await api.updateProfile(d.remoteId, { [params.markField]: REMOVED_MARK });
        return { value: null, status: r.status, remoteId: d.remoteId, bytes: r.bytesSent };
      } catch (err) {
        if (err instanceof ProviderRequestError && err.status === 404) return { value: null, status: 404, remoteId: d.remoteId };
        if (err instanceof ProviderRequestError && err.status === 429) params.stop.abort(err as Error);
        throw err;
      }
    },
    { concurrency: params.concurrency, signal: params.stop.signal },
  );
  return sent.map((r, j) =>
    r.outcome === 'sent'
      ? { outcome: 'done', calls: calls[j]! }
      : r.outcome === 'blocked'
        ? { outcome: 'blocked', reason: r.reason }
        : { outcome: 'failed', error: r.error, calls: calls[j]! },
  );
}
