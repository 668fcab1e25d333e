import type { OrganizationVerifyReport } from '../transfers/verify.ts';
import type { CliCommand } from './command.ts';
import { jsonOption, transfersOrgOption } from './options.ts';

/**
 * `casebridge transfers verify|seal|retention`: the transfer log's maintenance from the command line.
 * `verify` exits 1 when a chain is broken, so it can run from cron or CI.
 */
/** The outcomes the log does not know for certain yet (or learned afterwards), when there are any. */
function printOutcomes(o: OrganizationVerifyReport['outcomes'], print: (line: string) => void): void {
  if (o.unknown) {
    print(
      `        ${o.unknown} transfer(s) of unknown outcome: ${o.tookEffect} took effect, ${o.didNotTakeEffect} did not, ` +
        `${o.unverifiable} unverifiable, ${o.unresolved} not resolved yet`,
    );
  }
  if (o.open) print(`        ${o.open} intent(s) without an outcome (under way, or awaiting recovery)`);
}

export const transferCommands: CliCommand[] = [
  {
    words: ['transfers', 'verify'],
    summary: 'Recompute the transfer log hash chains and checkpoint signatures; exit 1 and name the first broken row',
    usage: '[--org ID] [--json]',
    options: { org: transfersOrgOption, json: jsonOption },
    async run({ args, services, print }) {
      if (!services) return 1;
      const { verifyTransferLog } = await import('../transfers/verify.ts');
      const report = await verifyTransferLog(services, { organizationId: args.org ? String(args.org) : undefined });
      if (args.json) {
        print(JSON.stringify(report, null, 2));
        return report.ok ? 0 : 1;
      }
      for (const org of report.organizations) {
        const range = org.rows ? `seq ${org.firstSeq}..${org.lastSeq}` : 'no rows';
        const sealed = org.lastCheckpoint ? `, last checkpoint at ${org.lastCheckpoint.seq} (${org.lastCheckpoint.sealedAt})` : ', no checkpoint yet';
        if (org.ok) {
          print(`ok      ${org.organizationId}: ${org.rows} rows (${range}), ${org.checkpointsVerified} checkpoint matches${sealed}`);
          if (org.checkpointsUnknownKey) print(`        ${org.checkpointsUnknownKey} checkpoint(s) signed by another key were not checked`);
          printOutcomes(org.outcomes, print);
          continue;
        }
        const b = org.firstBroken!;
        print(`BROKEN  ${org.organizationId}: first broken row ${b.id ?? '(missing rows)'} at seq ${b.seq} — ${b.kind}`);
        print(`        ${b.message}`);
        print(`        expected ${b.expected}`);
        print(`        actual   ${b.actual}`);
        if (org.problems.length > 1) print(`        ${org.problems.length - 1} more problem(s); use --json for all`);
        printOutcomes(org.outcomes, print);
      }
      print(`${report.ok ? 'verified' : 'FAILED'}: ${report.rowsChecked} rows in ${report.durationMs} ms (key ${report.keyId})`);
      return report.ok ? 0 : 1;
    },
  },
  {
    words: ['transfers', 'seal'],
    summary: 'Seal every organization’s transfer-log chain now with an Ed25519-signed checkpoint',
    usage: '[--org ID] [--json]',
    options: { org: transfersOrgOption, json: jsonOption },
    async run({ args, services, print }) {
      if (!services) return 1;
      const { sealCheckpoints } = await import('../transfers/checkpoints.ts');
      const result = await sealCheckpoints(services, { organizationId: args.org ? String(args.org) : undefined, kind: 'manual' });
      if (args.json) print(JSON.stringify(result, null, 2));
      else {
        for (const s of result.sealed) print(`sealed  ${s.organizationId} at seq ${s.seq} (${s.headHash})`);
        for (const r of result.refused) print(`REFUSED ${r.organizationId} at seq ${r.seq}: ${r.reason}`);
        if (!result.sealed.length && !result.refused.length) print('nothing to seal: every chain is sealed at its head');
      }
      return result.refused.length ? 1 : 0;
    },
  },
  {
    words: ['transfers', 'retention'],
    summary: 'Remove transfer-log rows older than TRANSFER_LOG_RETENTION_DAYS (anchored by a signed checkpoint, audited)',
    usage: '[--org ID] [--json]',
    options: { org: transfersOrgOption, json: jsonOption },
    async run({ args, services, print }) {
      if (!services) return 1;
      const { enforceRetention } = await import('../transfers/retention.ts');
      const result = await enforceRetention(services, { organizationId: args.org ? String(args.org) : undefined });
      if (args.json) print(JSON.stringify(result, null, 2));
      else {
        print(`cutoff ${result.cutoff.toISOString()} (${services.config.TRANSFER_LOG_RETENTION_DAYS} days)`);
        for (const o of result.organizations) print(`removed ${o.removedRows} rows of ${o.organizationId} through seq ${o.throughSeq}`);
        if (!result.organizations.length) print('nothing older than the cutoff');
      }
      return 0;
    },
  },
];
