import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/audit/audit-log.ts';
import { transferCommands } from '../../src/cli/transfer-commands.ts';
import { sealCheckpoints } from '../../src/transfers/checkpoints.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { enforceRetention } from '../../src/transfers/retention.ts';
import { verifyTransferLog } from '../../src/transfers/verify.ts';
import { seedOrg } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { consent, insertConnection, jobCtx, logEntry, logRows } from './helpers.ts';

async function runVerify(t: TestServices, organizationId: string) {
  const cmd = transferCommands.find((c) => c.words.join(' ') === 'transfers verify')!;
  const lines: string[] = [];
  const code = await cmd.run({ args: { org: organizationId }, positionals: [], config: t.config, services: t.services, print: (l) => lines.push(l) });
  return { code, output: lines.join('\n') };
}

/** Edits rows as a DBA would: with the append-only trigger switched off. */
async function asDba(t: TestServices, statement: ReturnType<typeof sql>) {
  await sql`ALTER TABLE transfer_log DISABLE TRIGGER transfer_log_append_only`.execute(t.services.db);
  try {
    await statement.execute(t.services.db);
  } finally {
    await sql`ALTER TABLE transfer_log ENABLE TRIGGER transfer_log_append_only`.execute(t.services.db);
  }
}

/** Rewrites the chain head as a DBA would: with its forward-only trigger switched off. */
async function rewindHead(t: TestServices, organizationId: string, seq: number, hash: string) {
  await sql`ALTER TABLE transfer_log_heads DISABLE TRIGGER transfer_log_heads_forward_only`.execute(t.services.db);
  try {
    await sql`UPDATE transfer_log_heads SET seq = ${seq}, hash = ${hash} WHERE organization_id = ${organizationId}`.execute(t.services.db);
  } finally {
    await sql`ALTER TABLE transfer_log_heads ENABLE TRIGGER transfer_log_heads_forward_only`.execute(t.services.db);
  }
}

describe('transfer log', () => {
  let t: TestServices;
  beforeAll(async () => {
    t = await createTestServices();
  });
  afterAll(async () => t.cleanup());

  it('refuses UPDATE, DELETE and TRUNCATE in the database', async () => {
    const org = await seedOrg(t.services, 'Append Only');
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 1)]);
    await expect(sql`UPDATE transfer_log SET purpose = 'x' WHERE organization_id = ${org.organizationId}`.execute(t.services.db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`DELETE FROM transfer_log WHERE organization_id = ${org.organizationId}`.execute(t.services.db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE transfer_log`.execute(t.services.db)).rejects.toThrow(/append-only/);
    await recordAudit(t.services.db, { organizationId: org.organizationId, actor: { kind: 'system', reason: 'test' }, action: 'test.action' });
    await expect(sql`DELETE FROM audit_log`.execute(t.services.db)).rejects.toThrow(/append-only/);
    await expect(sql`UPDATE audit_log SET action = 'x'`.execute(t.services.db)).rejects.toThrow(/append-only/);
    expect((await logRows(t.services, org.organizationId)).length).toBe(1);
  });

  it('a writer whose cached head another process moved chains onto the head its failed append answered with: two statements, no re-read', async () => {
    const org = await seedOrg(t.services, 'Lost Swap');
    let statements = 0;
    const counted = t.services.db.withPlugin({
      transformQuery: (args) => {
        statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const slow = new TransferLogWriter(counted);
    await slow.append([logEntry(org.organizationId, 1)]);
    // Another process appends: the head `slow` cached is stale now.
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 2)]);
    statements = 0;
    const [row] = await slow.append([logEntry(org.organizationId, 3)]);
    // The lost compare-and-swap, then the append onto the head it answered with.
    expect(statements).toBe(2);
    expect(row!.seq).toBe(3);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(true);
    expect(report.organizations[0]!.rows).toBe(3);
  });

  it('a writer that lost the swap sends the appends queued meanwhile with its next attempt: one statement for both, in order', async () => {
    const org = await seedOrg(t.services, 'Lost Swap Joined');
    let statements = 0;
    /** Holds the answer of the next statement until released (so an append queues behind it). */
    let hold: Promise<void> | null = null;
    const counted = t.services.db.withPlugin({
      transformQuery: (args) => {
        statements++;
        return args.node;
      },
      transformResult: async (args) => {
        const h = hold;
        hold = null;
        if (h) await h;
        return args.result;
      },
    });
    const slow = new TransferLogWriter(counted);
    await slow.append([logEntry(org.organizationId, 1)]);
    // Another process appends: the head `slow` cached is stale now.
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 2)]);
    statements = 0;
    let release!: () => void;
    hold = new Promise<void>((r) => {
      release = r;
    });
    const first = slow.append([logEntry(org.organizationId, 3)]);
    // The first append's statement is out (and loses); this one queues behind it.
    while (statements === 0) await new Promise((r) => setImmediate(r));
    const second = slow.append([logEntry(org.organizationId, 4), logEntry(org.organizationId, 5)]);
    release();
    const [a, b] = await Promise.all([first, second]);
    // The lost compare-and-swap, then ONE statement with all three rows (not one per append).
    expect(statements).toBe(2);
    expect(a!.map((r) => r.seq)).toEqual([3]);
    expect(b!.map((r) => r.seq)).toEqual([4, 5]);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(true);
    expect(report.organizations[0]!.rows).toBe(5);
  });

  it('keeps one valid chain with eight concurrent writers', async () => {
    const org = await seedOrg(t.services, 'Eight Writers');
    // Eight writers with their own cached chain heads, as eight worker processes would have.
    const writers = Array.from({ length: 8 }, () => new TransferLogWriter(t.services.db));
    await Promise.all(
      writers.map(async (w, wi) => {
        for (let k = 0; k < 6; k++) {
          await w.append(Array.from({ length: 1 + ((wi + k) % 3) }, (_, j) => logEntry(org.organizationId, wi * 100 + k * 10 + j)));
        }
      }),
    );
    const rows = await logRows(t.services, org.organizationId);
    const expected = writers.reduce((n, _, wi) => n + Array.from({ length: 6 }, (_, k) => 1 + ((wi + k) % 3)).reduce((a, b) => a + b, 0), 0);
    expect(rows).toHaveLength(expected);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(true);
    expect(report.organizations[0]!.rows).toBe(expected);
  });

  it('names the row a DBA edited directly, and one rewritten with a recomputed hash', async () => {
    const org = await seedOrg(t.services, 'Tampered');
    const connectionId = await insertConnection(t.services, { organizationId: org.organizationId, userId: org.member.id });
    await consent(t.services, { connectionId, organizationId: org.organizationId, userId: org.member.id, categories: ['calendar.events'] });
    for (let i = 0; i < 5; i++) {
      await t.services.gate.send(
        jobCtx(connectionId),
        {
          operation: 'create',
          categories: ['calendar.events'],
          subjects: { eventIds: [`e${i}`] },
          recipient: { account: null, destination: 'c' },
          fields: { title: `t${i}` },
        },
        async () => ({ value: null, status: 200 }),
      );
    }
    expect((await runVerify(t, org.organizationId)).code).toBe(0);
    const rows = await logRows(t.services, org.organizationId);
    const victim = rows[3]!;
    await asDba(t, sql`UPDATE transfer_log SET recipient_account = 'attacker@example.test' WHERE id = ${victim.id}`);
    const broken = await runVerify(t, org.organizationId);
    expect(broken.code).toBe(1);
    expect(broken.output).toContain(`first broken row ${victim.id} at seq ${victim.seq}`);
    expect(broken.output).toContain('hash_mismatch');

    // Put it back, then rewrite another row and recompute its own hash: the next row's link names it.
    await asDba(t, sql`UPDATE transfer_log SET recipient_account = ${victim.recipient_account} WHERE id = ${victim.id}`);
    expect((await runVerify(t, org.organizationId)).code).toBe(0);
    const other = rows[1]!;
    await asDba(t, sql`UPDATE transfer_log SET hash = ${'f'.repeat(64)} WHERE id = ${other.id}`);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(false);
    expect(report.organizations[0]!.firstBroken).toMatchObject({ id: other.id, seq: Number(other.seq) });
  });

  it('detects rows cut off the end after a signed checkpoint', async () => {
    const org = await seedOrg(t.services, 'Truncated');
    const writer = new TransferLogWriter(t.services.db);
    await writer.append(Array.from({ length: 6 }, (_, i) => logEntry(org.organizationId, i)));
    const sealed = await sealCheckpoints(t.services, { organizationId: org.organizationId });
    expect(sealed.sealed).toEqual([expect.objectContaining({ organizationId: org.organizationId, seq: 6 })]);
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).organizations[0]).toMatchObject({ ok: true, checkpointsVerified: 1 });
    // Delete the last two rows and move the chain head back, as someone covering their tracks would.
    await asDba(t, sql`DELETE FROM transfer_log WHERE organization_id = ${org.organizationId} AND seq > 4`);
    const row4 = (await logRows(t.services, org.organizationId))[3]!;
    await rewindHead(t, org.organizationId, 4, row4.hash);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(false);
    expect(report.organizations[0]!.firstBroken).toMatchObject({ kind: 'rows_missing', seq: 5 });
  });

  it('the chain head only moves forward: rewinding, deleting or truncating it is refused', async () => {
    const org = await seedOrg(t.services, 'Forward only');
    await new TransferLogWriter(t.services.db).append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, i)));
    const row2 = (await logRows(t.services, org.organizationId))[1]!;
    await expect(
      sql`UPDATE transfer_log_heads SET seq = 2, hash = ${row2.hash} WHERE organization_id = ${org.organizationId}`.execute(t.services.db),
    ).rejects.toThrow(/only moves forward/);
    await expect(sql`DELETE FROM transfer_log_heads WHERE organization_id = ${org.organizationId}`.execute(t.services.db)).rejects.toThrow(
      /only moves forward/,
    );
    await expect(sql`TRUNCATE transfer_log_heads`.execute(t.services.db)).rejects.toThrow(/append-only/);
    // Appending still moves it forward.
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 9)]);
    const head = await t.services.db.selectFrom('transfer_log_heads').select('seq').where('organization_id', '=', org.organizationId).executeTakeFirstOrThrow();
    expect(Number(head.seq)).toBe(4);
  });

  it('names the range cut off the end from the witness when the newest rows, their checkpoint and the head were all rewritten; seal refuses', async () => {
    const org = await seedOrg(t.services, 'Cut tail');
    const writer = new TransferLogWriter(t.services.db);
    await writer.append(Array.from({ length: 5 }, (_, i) => logEntry(org.organizationId, i)));
    expect((await sealCheckpoints(t.services, { organizationId: org.organizationId })).sealed).toHaveLength(1);
    await writer.append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, 10 + i)));
    expect((await sealCheckpoints(t.services, { organizationId: org.organizationId })).sealed).toEqual([expect.objectContaining({ seq: 8 })]);
    // Cover the tracks inside the database: rows 6..8 gone, their checkpoint gone, the head back at 5.
    await asDba(t, sql`DELETE FROM transfer_log WHERE organization_id = ${org.organizationId} AND seq > 5`);
    await sql`ALTER TABLE transfer_log_checkpoints DISABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
    await sql`DELETE FROM transfer_log_checkpoints WHERE organization_id = ${org.organizationId} AND seq > 5`.execute(t.services.db);
    await sql`ALTER TABLE transfer_log_checkpoints ENABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
    const row5 = (await logRows(t.services, org.organizationId))[4]!;
    await rewindHead(t, org.organizationId, 5, row5.hash);

    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(false);
    const problems = report.organizations[0]!.problems;
    expect(problems).toContainEqual(
      expect.objectContaining({ kind: 'rows_missing', seq: 6, message: expect.stringContaining('rows 6..8 were cut off the end') }),
    );
    expect(problems).toContainEqual(expect.objectContaining({ kind: 'checkpoint_missing', seq: 8 }));
    const { code, output } = await runVerify(t, org.organizationId);
    expect(code).toBe(1);
    expect(output).toMatch(/rows 6\.\.8/);

    // New rows after the cut: seal still refuses to sign the rewound chain.
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 20)]);
    const sealed = await sealCheckpoints(t.services, { organizationId: org.organizationId });
    expect(sealed.sealed).toEqual([]);
    expect(sealed.refused).toEqual([
      expect.objectContaining({ organizationId: org.organizationId, reason: expect.stringMatching(/row 8 differs|rows 7\.\.8 were cut|witness/) }),
    ]);
  });

  it('seal refuses a chain broken between the last checkpoint and the head', async () => {
    const org = await seedOrg(t.services, 'Broken unsealed');
    const writer = new TransferLogWriter(t.services.db);
    await writer.append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, i)));
    await sealCheckpoints(t.services, { organizationId: org.organizationId });
    await writer.append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, 10 + i)));
    // A row after the checkpoint edited in place (its stored hash kept, so only re-hashing shows it).
    await asDba(t, sql`UPDATE transfer_log SET recipient_account = ${'someone-else@example.test'} WHERE organization_id = ${org.organizationId} AND seq = 5`);
    const sealed = await sealCheckpoints(t.services, { organizationId: org.organizationId });
    expect(sealed.sealed).toEqual([]);
    expect(sealed.refused).toEqual([expect.objectContaining({ seq: 6, reason: 'row 5 was changed after it was written' })]);
  });

  it('detects a forged checkpoint signature', async () => {
    const org = await seedOrg(t.services, 'Forged');
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 1)]);
    await sealCheckpoints(t.services, { organizationId: org.organizationId });
    await sql`ALTER TABLE transfer_log_checkpoints DISABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
    // Keep the JWS's header and payload, zero its signature.
    await sql`UPDATE transfer_log_checkpoints SET jws = regexp_replace(jws, '[^.]+$', ${Buffer.alloc(64).toString('base64url')}) WHERE organization_id = ${org.organizationId}`.execute(
      t.services.db,
    );
    await sql`ALTER TABLE transfer_log_checkpoints ENABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.organizations[0]!.firstBroken).toMatchObject({ kind: 'checkpoint_signature_invalid' });
  });

  it('retention removes old rows, records it in the audit log, and the rest still verifies', async () => {
    const org = await seedOrg(t.services, 'Retention');
    const writer = new TransferLogWriter(t.services.db);
    const days = t.config.TRANSFER_LOG_RETENTION_DAYS;
    const old = new Date(Date.now() - (days + 10) * 86_400_000);
    await writer.append(Array.from({ length: 4 }, (_, i) => logEntry(org.organizationId, i, old)));
    await writer.append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, 10 + i)));
    const result = await enforceRetention(t.services, { organizationId: org.organizationId });
    expect(result.organizations).toEqual([expect.objectContaining({ organizationId: org.organizationId, removedRows: 4, throughSeq: 4 })]);
    const rows = await logRows(t.services, org.organizationId);
    expect(rows.map((r) => Number(r.seq))).toEqual([5, 6, 7]);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.ok).toBe(true);
    const audit = await t.services.db.selectFrom('audit_log').selectAll().where('organization_id', '=', org.organizationId).execute();
    expect(audit).toEqual([expect.objectContaining({ action: 'transfer_log.retention', details: expect.objectContaining({ removedRows: 4, throughSeq: 4 }) })]);
    // The setting stayed local to the retention transaction.
    await expect(sql`DELETE FROM transfer_log WHERE organization_id = ${org.organizationId}`.execute(t.services.db)).rejects.toThrow(/append-only/);
    // New rows keep chaining after the purge.
    await writer.append([logEntry(org.organizationId, 99)]);
    expect((await verifyTransferLog(t.services, { organizationId: org.organizationId })).ok).toBe(true);
  });

  it('flags a purged prefix that no signed checkpoint vouches for', async () => {
    const org = await seedOrg(t.services, 'Unanchored');
    await new TransferLogWriter(t.services.db).append(Array.from({ length: 3 }, (_, i) => logEntry(org.organizationId, i)));
    await asDba(t, sql`DELETE FROM transfer_log WHERE organization_id = ${org.organizationId} AND seq = 1`);
    const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
    expect(report.organizations[0]!.firstBroken).toMatchObject({ kind: 'unanchored_start', seq: 2 });
  });
});
