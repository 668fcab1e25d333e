import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import type { Connector } from '../../connectors/types.ts';
import { connectionsForChange, platformsTriggeredBy } from '../../queues/change-routing.ts';
import { caseWithEvents, createSyncEnv, type SyncEnv } from './support/env.ts';

/**
 * Which connections a committed change reaches is decided by the manifests' `triggers`, not by a
 * list of entity kinds in the queue code.
 */

let env: SyncEnv;
let connectionId: string;
let caseId: string;

beforeAll(async () => {
  env = await createSyncEnv();
  connectionId = await env.connect();
  await env.ingest(caseWithEvents({ caseId: 'routing', assignee: env.org.member.email, n: 1 }));
  caseId = (await env.t.services.db.selectFrom('cases').select('id').where('external_id', '=', 'routing').executeTakeFirstOrThrow()).id;
});
afterAll(async () => env.close());

describe('change routing by manifest triggers', () => {
  it('routes an event change to a platform that triggers on events', async () => {
    const change = { organizationId: env.org.organizationId, caseIds: [caseId], entities: ['event' as const] };
    expect(await connectionsForChange(env.t.services.db, change)).toEqual([connectionId]);
  });

  it('does not route a document change to a platform that triggers only on cases and events', async () => {
    const change = { organizationId: env.org.organizationId, caseIds: [caseId], entities: ['document' as const] };
    expect(googleCalendar.manifest.triggers).toEqual(['cases', 'events']);
    expect(await connectionsForChange(env.t.services.db, change)).toEqual([]);
  });

  it('routes a document change once the manifest declares the documents trigger', async () => {
    const documentsToo: Connector = { ...googleCalendar, manifest: { ...googleCalendar.manifest, triggers: ['documents'] } };
    const change = { organizationId: env.org.organizationId, caseIds: [caseId], entities: ['document' as const] };
    expect(await connectionsForChange(env.t.services.db, change, [documentsToo])).toEqual([connectionId]);
  });

  it('never routes to a platform that is not pushed, whatever its triggers', () => {
    const pullOnly: Connector = {
      ...googleCalendar,
      manifest: { ...googleCalendar.manifest, id: 'pull_only', capabilities: ['pull'], triggers: ['contacts'] },
    };
    expect(platformsTriggeredBy({ entities: ['contact'] }, [pullOnly])).toEqual([]);
  });
});
