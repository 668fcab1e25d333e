import { type ActingUser, actAs, SAMPLE_ADMIN_EMAIL, waitFor } from './as-user.ts';
import type { DemoContext, DemoStep } from './context.ts';

/**
 * Connects the sandbox iManage Work server for the first sample firm the way an administrator does
 * (alice): `POST /v1/connections` with the firm's server and library, the server's authorization
 * page (the sandbox signs the firm's service user in at once), the OAuth callback; then waits for
 * the first reconcile, which maps each case to its client/matter workspace (created from the
 * template, the sandbox starts empty) and files the case's documents into its `Casebridge` folder.
 * Prints the workspace, folder and document ids, and where to see them in the emulator.
 *
 * The sandbox keeps everything in memory, so a connection from an earlier run holds tokens the new
 * sandbox never issued: every earlier iManage connection of the firm is disconnected first
 * (documents stay in iManage: the delete policy is `leave`).
 */

const PLATFORM = 'imanage';
const SYNC_TIMEOUT_MS = 180_000;

interface ConnectionView {
  id: string;
  platform: string;
  status: string;
  lastSyncAt: string | null;
  progress: { state?: string } | null;
  lastError: { code: string; message: string } | null;
  settings?: { unmapped?: Array<{ caseNumber: string; reason: string }> };
}

export const imanageStep: DemoStep = {
  name: 'imanage',
  async run(ctx) {
    const heading = 'iManage Work (sandbox)';
    if (!ctx.sandbox) {
      ctx.print(heading, 'not connected by the demo: an administrator registers the firm’s client (PUT /v1/admin/imanage/client) and connects its server.');
      return;
    }
    const org = ctx.seed!.organizations[0]!;
    const alice = await actAs(ctx, { organizationId: org.id, email: SAMPLE_ADMIN_EMAIL });
    try {
      const started = Date.now();
      const replaced = await disconnectEarlier(ctx, alice);
      const connectionId = await connect(ctx, alice);
      ctx.progress(`iManage: connected for ${org.name}; filing the cases' documents…`);
      const connection = await waitFor(
        'the first iManage sync',
        async () => {
          const { connection } = (await alice.call<{ connection: ConnectionView }>('GET', `/v1/connections/${connectionId}`)).body;
          if (connection.status !== 'active' || connection.progress?.state === 'failed') {
            throw new Error(`the connection did not sync: ${connection.status}, ${connection.lastError?.message ?? 'no error recorded'}`);
          }
          return connection.lastSyncAt && new Date(connection.lastSyncAt).getTime() >= started && connection.progress?.state === 'idle'
            ? connection
            : undefined;
        },
        { timeoutMs: SYNC_TIMEOUT_MS },
      );
      const db = ctx.services!.db;
      const folders = await db
        .selectFrom('imanage_case_folders as f')
        .innerJoin('cases as c', 'c.id', 'f.case_id')
        .select(['c.number', 'f.workspace_id', 'f.folder_id', 'f.case_id'])
        .where('f.connection_id', '=', connectionId)
        .orderBy('c.number')
        .execute();
      const documents = await db
        .selectFrom('sync_state')
        .select(['case_id', 'remote_id'])
        .where('connection_id', '=', connectionId)
        .orderBy('remote_id')
        .execute();
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const lines = folders.map((f) => {
        const ids = documents.filter((d) => d.case_id === f.case_id).map((d) => d.remote_id);
        return `  case ${f.number} → workspace ${f.workspace_id}, folder ${f.folder_id}: ${ids.length} document(s) ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''}`;
      });
      const unmapped = connection.settings?.unmapped ?? [];
      const base = ctx.config!.PUBLIC_BASE_URL;
      ctx.print(
        heading,
        `${org.name}: connection ${connectionId} by ${alice.email}${replaced ? ` (${replaced} earlier one(s) disconnected)` : ''}`,
        `filed in ${seconds} s: ${documents.length} documents into ${folders.length} matter workspaces (library ACTIVE)`,
        ...lines.slice(0, 8),
        ...(lines.length > 8 ? [`  … and ${lines.length - 8} more cases`] : []),
        ...(unmapped.length ? [`unmapped: ${unmapped.map((u) => `${u.caseNumber} (${u.reason})`).join('; ')}`] : []),
        'look at:',
        `  ${ctx.sandbox.url}/_sandbox/ledger?provider=imanage&writes=true   (every upload, with bytes and SHA-256)`,
        `  ${base}/v1/connections/${connectionId}   ${base}/v1/transfers?connectionId=${connectionId}   (signed in as ${alice.email})`,
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.progress(`iManage: FAILED: ${message}`);
      ctx.print(heading, `FAILED: ${message}`);
    } finally {
      await alice.end();
    }
  },
};

/** Disconnects the firm's earlier iManage connections (their tokens belong to an earlier sandbox). */
async function disconnectEarlier(ctx: DemoContext, alice: ActingUser): Promise<number> {
  const { items: connections } = (await alice.call<{ items: ConnectionView[] }>('GET', '/v1/connections?all=true&limit=200')).body;
  const live = connections.filter((c) => c.platform === PLATFORM && c.status !== 'revoked');
  for (const c of live) {
    const { body } = await alice.call<{ revocation: { id: string } }>('DELETE', `/v1/connections/${c.id}`);
    await waitFor(
      `the clean-up of connection ${c.id}`,
      async () => {
        const row = await ctx.services!.db.selectFrom('revocations').select('status').where('id', '=', body.revocation.id).executeTakeFirst();
        return row && row.status !== 'in_progress' ? row.status : undefined;
      },
      { timeoutMs: 15_000 },
    ).catch((err: Error) => ctx.progress(`note: ${err.message}; it continues in the background`));
  }
  return live.length;
}

async function connect(ctx: DemoContext, alice: ActingUser): Promise<string> {
  const created = await alice.call<{ connection: { id: string }; authorizationUrl: string }>('POST', '/v1/connections', {
    platform: PLATFORM,
    categories: ['documents.files', 'documents.metadata'],
    caseScope: { kind: 'all' },
    settings: { host: `${ctx.sandbox!.url}/imanage`, libraryId: 'ACTIVE', unmappedPolicy: 'create', templateWorkspaceId: 'ACTIVE!1' },
  });
  const authorize = await fetch(created.body.authorizationUrl, { redirect: 'manual' });
  const location = authorize.headers.get('location');
  if (authorize.status !== 302 || !location) throw new Error(`the sandbox's iManage authorization answered ${authorize.status}, not a redirect`);
  const back = new URL(location);
  await alice.call('GET', `${back.pathname}${back.search}`);
  return created.body.connection.id;
}
