import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { CategoryId } from '../../src/consent/categories.ts';
import { grantConsentAndPublish } from '../../src/consent/service.ts';
import type { CaseScope, ConnectionStatus } from '../../src/db/types.ts';
import type { Services } from '../../src/services.ts';
import type { TransferLogEntry } from '../../src/transfers/log-entry.ts';
import type { TransferContext } from '../../src/transfers/types.ts';

/** Inserts a connection row directly (the connections feature owns the real flow). */
export async function insertConnection(
  services: Services,
  params: { organizationId: string; userId: string; platform?: string; status?: ConnectionStatus; account?: string },
): Promise<string> {
  const row = await services.db
    .insertInto('connections')
    .values({
      organization_id: params.organizationId,
      user_id: params.userId,
      platform: params.platform ?? 'test_platform',
      status: params.status ?? 'active',
      external_account: params.account ?? 'someone@example.test',
      last_error: sql`NULL`,
      sync_progress: sql`NULL`,
      settings: JSON.stringify({}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Inserts a case and returns its id. */
export async function insertCase(services: Services, organizationId: string, number: string): Promise<string> {
  const row = await services.db
    .insertInto('cases')
    .values({
      organization_id: organizationId,
      external_id: `ext-${number}`,
      number,
      title: `Case ${number}`,
      client_name: null,
      status: 'open',
      assignees: JSON.stringify([]),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function consent(
  services: Services,
  params: { connectionId: string; organizationId: string; userId: string; categories: CategoryId[]; caseScope?: CaseScope },
) {
  return grantConsentAndPublish(services, {
    connectionId: params.connectionId,
    organizationId: params.organizationId,
    grantedBy: params.userId,
    categories: params.categories,
    caseScope: params.caseScope ?? { kind: 'all' },
    method: 'api',
    attestations: params.categories.includes('contacts.import') ? { 'contacts.import': 'I have the legal right to import these contacts' } : {},
  });
}

export const jobCtx = (connectionId: string, purpose = 'calendar_sync'): TransferContext => ({
  connectionId,
  purpose,
  actor: { kind: 'job', jobId: 'job-1', queue: 'sync' },
});

/** Rows of the transfer log of one organization, in chain order. */
export async function logRows(services: Services, organizationId: string) {
  return services.db.selectFrom('transfer_log').selectAll().where('organization_id', '=', organizationId).orderBy('seq').execute();
}

/** A plausible transfer-log intent row, as the gate would write it (tests that write the log directly). */
export function logEntry(organizationId: string, n: number, createdAt = new Date()): TransferLogEntry {
  return {
    id: randomUUID(),
    organizationId,
    direction: 'outbound',
    userId: null,
    connectionId: null,
    platform: 'test_platform',
    recipientAccount: 'someone@example.test',
    recipientDestination: 'cal-1',
    subjects: { caseIds: ['case-1'], eventIds: [`e${n}`] },
    categories: ['calendar.events'],
    fieldNames: ['title'],
    purpose: 'calendar_sync',
    consentId: null,
    consentVersion: null,
    payloadSha256: 'ab'.repeat(32),
    payloadBytes: 17,
    actor: { kind: 'job', jobId: `j${n}`, queue: 'sync' },
    operation: 'create',
    itemKey: `event:e${n}`,
    intentId: null,
    outcome: 'intent',
    providerStatus: null,
    remoteId: null,
    durationMs: null,
    reason: null,
    errorClass: null,
    errorMessage: null,
    requesterIp: null,
    requesterUserAgent: null,
    createdAt,
  };
}
