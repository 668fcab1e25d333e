import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGoogleCalendar } from '../../connectors/google-calendar/client.ts';
import { googleCalendar } from '../../connectors/google-calendar/index.ts';
import { googleEventId } from '../../connectors/google-calendar/project.ts';
import { createGoogleWriteCheck } from '../../connectors/google-calendar/write-check.ts';
import { connectionTokens, tokensOfConnection } from '../../src/connections/token-access.ts';
import { vaultFor } from '../../src/connections/token-refresh.ts';
import { gateScope } from '../../src/transfers/gate-scope.ts';
import type { TransferLogEntry } from '../../src/transfers/log-entry.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { createSyncEnv, type SyncEnv } from './support/env.ts';

/**
 * Google's write check ("did this unanswered create take effect?") against a later transfer of the
 * same item whose intent was written ahead of its call (the gate writes intents for the next calls
 * while earlier ones are out): the unanswered insert landed after that intent but before the later
 * call left — the later insert met a 409 and patched. The landing is the unanswered write's.
 */

let env: SyncEnv;

beforeAll(async () => {
  env = await createSyncEnv();
});
afterAll(async () => env?.close());

describe('Google write check', () => {
  it('credits a late landing to the unanswered create when it came before the later call left, even after the later intent', async () => {
    const connectionId = await env.connect();
    await env.startWorkers();
    await env.waitIdle();
    await env.workers!.close();
    const calendarId = await env.calendarId(connectionId);
    const { services } = env.t;
    const log = new TransferLogWriter(services.db);
    const caseEventId = randomUUID();
    const itemKey = `event:${caseEventId}`;
    const row = (over: Partial<TransferLogEntry>): TransferLogEntry => ({
      id: randomUUID(),
      organizationId: env.org.organizationId,
      direction: 'outbound',
      userId: env.org.member.id,
      connectionId,
      platform: 'google_calendar',
      recipientAccount: null,
      recipientDestination: calendarId,
      subjects: {},
      categories: ['calendar.events'],
      fieldNames: ['title'],
      purpose: 'calendar_sync',
      consentId: null,
      consentVersion: null,
      payloadSha256: null,
      payloadBytes: null,
      actor: { kind: 'system', reason: 'test' },
      operation: 'create',
      itemKey,
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
      createdAt: new Date(),
      ...over,
    });
    const start = Date.now();
    // The unanswered create, then the later transfer's intent written ahead of its call.
    const [first] = await log.append([row({ createdAt: new Date(start - 3000) })]);
    const [later] = await log.append([row({ createdAt: new Date(start - 2000) })]);
    await log.append([row({ intentId: first!.id, outcome: 'unknown', errorClass: 'timeout', errorMessage: 'timed out', createdAt: new Date(start - 2500) })]);
    // The unanswered insert lands now, after the later intent …
    const token = (await vaultFor(services).load(connectionId))!.accessToken;
    const api = openGoogleCalendar({ config: services.config, accessToken: token });
    await gateScope.run({ transferId: first!.id, connectionId, purpose: 'calendar_sync' }, () =>
      api.insertEvent(calendarId, {
        id: googleEventId(connectionId, caseEventId),
        summary: 'Hearing',
        start: { dateTime: '2026-10-01T14:00:00Z' },
        end: { dateTime: '2026-10-01T15:00:00Z' },
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    // … and the later call leaves after it (its insert met the event: 409, then a PATCH), 20 ms long.
    await log.append([row({ intentId: later!.id, outcome: 'sent', providerStatus: 200, durationMs: 20, createdAt: new Date() })]);

    const tokens = tokensOfConnection(connectionTokens(services, googleCalendar.oauth!, 'google_calendar'), connectionId);
    const verdict = await gateScope.run({ transferId: first!.id, connectionId, purpose: 'outcome_resolution' }, () =>
      createGoogleWriteCheck()({ services, intent: first!, tokens }),
    );
    expect(verdict).toBe('took_effect');
  });
});
