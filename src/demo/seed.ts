import { sql } from 'kysely';
import { createApiKey } from '../auth/api-keys.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { ChangeFeed } from '../cases/change-feed.ts';
import { applyIngest, type IngestCommand, type ItemStatus } from '../cases/ingest.ts';
import { guessMimeType } from '../cases/rows.ts';
import { caseInputSchema, contactInputSchema, documentMetadataSchema, type EntityType, eventInputSchema } from '../cases/schemas.ts';
import type { Db } from '../db/database.ts';
import type { Logger } from '../observability/logger.ts';
import { buildDemoDataset, type DemoOrganization } from './sample-data.ts';
import { mondayOf } from './zoned-time.ts';

/** What seeding needs: the database, the blob store and (for in-process sync) the change feed. */
export interface SeedDeps {
  db: Db;
  blobs: BlobStore;
  changeFeed: ChangeFeed;
  logger?: Logger;
}

type Counts = Record<Exclude<ItemStatus, 'deleted' | 'not_found'>, number>;

export interface SeededOrganization {
  id: string;
  name: string;
  domain: string;
  /** A fresh key named `demo` (earlier `demo` keys of the organization are revoked: keys are shown once). */
  apiKey: string;
  users: { created: number; existing: number; admins: string[]; members: string[] };
  records: Record<EntityType, Counts>;
}

export interface DemoSeedReport {
  /** The Monday the sample dates hang off; seeding again in the same week changes nothing. */
  anchor: string;
  organizations: SeededOrganization[];
}

/** A change feed that tells no one (for a CLI process: the running service's periodic reconcile catches up). */
export const silentChangeFeed: ChangeFeed = {
  publish: async () => {},
  subscribe: () => () => {},
};

/** The sample's records as ingest commands, validated by the same schemas the API uses. */
async function commandsFor(org: DemoOrganization, blobs: BlobStore): Promise<IngestCommand[]> {
  const commands: IngestCommand[] = [];
  for (const c of org.cases) commands.push({ op: 'upsert', type: 'case', externalId: c.externalId, data: caseInputSchema.parse(c.data) });
  for (const e of org.events) commands.push({ op: 'upsert', type: 'event', externalId: e.externalId, data: eventInputSchema.parse(e.data) });
  for (const d of org.documents) {
    const metadata = documentMetadataSchema.parse(d.metadata);
    const stored = await blobs.put(d.bytes);
    commands.push({
      op: 'upsert',
      type: 'document',
      externalId: d.externalId,
      data: metadata,
      content: { ...stored, mimeType: metadata.mimeType ?? guessMimeType(metadata.fileName) },
    });
  }
  for (const k of org.contacts) commands.push({ op: 'upsert', type: 'contact', externalId: k.externalId, data: contactInputSchema.parse(k.data) });
  return commands;
}

/** Creates the organization and its users when missing; an administrator's later edits are kept. */
async function ensureOrganization(db: Db, org: DemoOrganization) {
  await db
    .insertInto('organizations')
    .values({ id: org.id, name: org.name, settings: JSON.stringify(org.settings) })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const created = await db
    .insertInto('users')
    .values(org.users.map((u) => ({ organization_id: org.id, email: u.email, name: u.name, role: u.role, picture_url: null })))
    .onConflict((oc) => oc.expression(sql`organization_id, lower(email)`).doNothing())
    .returning('id')
    .execute();
  return { created: created.length, existing: org.users.length - created.length };
}

/** Revokes the organization's earlier `demo` keys and makes a new one (a key is shown only once). */
async function rotateDemoKey(db: Db, organizationId: string): Promise<string> {
  return db.transaction().execute(async (tx) => {
    await tx
      .updateTable('api_keys')
      .set({ revoked_at: sql`now()` })
      .where('organization_id', '=', organizationId)
      .where('name', '=', 'demo')
      .where('revoked_at', 'is', null)
      .execute();
    return (await createApiKey(tx, { organizationId, name: 'demo' })).apiKey;
  });
}

/**
 * Seeds the two sample firms through the ingest core (the same validation, upsert and change feed as
 * the API). Deterministic and idempotent: records are keyed by external id and an unchanged record
 * keeps its version, so running it twice adds nothing.
 */
export async function seedDemo(deps: SeedDeps, options: { now?: Date } = {}): Promise<DemoSeedReport> {
  const anchor = mondayOf(options.now ?? new Date());
  const report: DemoSeedReport = { anchor, organizations: [] };
  for (const org of buildDemoDataset({ anchor })) {
    const users = await ensureOrganization(deps.db, org);
    const apiKey = await rotateDemoKey(deps.db, org.id);
    const { outcomes } = await applyIngest(deps, { organizationId: org.id, commands: await commandsFor(org, deps.blobs) });
    const records = {} as Record<EntityType, Counts>;
    for (const type of ['case', 'event', 'document', 'contact'] as const) records[type] = { created: 0, updated: 0, unchanged: 0 };
    for (const o of outcomes) if (o.status === 'created' || o.status === 'updated' || o.status === 'unchanged') records[o.type][o.status]++;
    report.organizations.push({
      id: org.id,
      name: org.name,
      domain: org.domain,
      apiKey,
      users: {
        ...users,
        admins: org.users.filter((u) => u.role === 'admin').map((u) => u.email),
        members: org.users.filter((u) => u.role === 'member').map((u) => u.email),
      },
      records,
    });
    deps.logger?.info({ organizationId: org.id, records }, 'demo organization seeded');
  }
  return report;
}

/** Human-readable lines describing a seed report (the API keys included: the demo prints them once). */
export function describeSeed(report: DemoSeedReport): string[] {
  const lines: string[] = [`Sample data (dates relative to the week of ${report.anchor}):`];
  for (const o of report.organizations) {
    lines.push(`  ${o.name}  (organization ${o.id}, domain ${o.domain})`);
    lines.push(`    users: ${o.users.created} created, ${o.users.existing} already there; admins: ${o.users.admins.join(', ')}`);
    for (const [type, c] of Object.entries(o.records)) {
      lines.push(`    ${`${type}s:`.padEnd(11)} ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`);
    }
    lines.push(`    API key (new; earlier demo keys revoked): ${o.apiKey}`);
  }
  return lines;
}
