import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Why a checkpoint was sealed. */
export type CheckpointKind = 'periodic' | 'retention' | 'manual';

/**
 * Where signed checkpoints are also written, outside the database: a witness. Someone who can edit the
 * database can cut the newest rows, rewind `transfer_log_heads` (trigger disabled) and delete the
 * checkpoints that sealed them — the chain that remains is then self-consistent. The witness still
 * holds what was sealed, so `transfers verify` names the missing range and `transfers seal` refuses to
 * sign the rewound head. Production puts the witness where the database's administrators cannot
 * write (object storage with a retention lock); the file implementation here is the default.
 */
export interface WitnessedCheckpoint {
  organizationId: string;
  /** Tree size: the seq of the last sealed row. */
  seq: number;
  headHash: string;
  kind: CheckpointKind;
  keyId: string;
  /** The checkpoint's compact JWS (EdDSA over its statement), the same as the database row's. */
  jws: string;
  /** ISO-8601 with milliseconds. */
  sealedAt: string;
}

/** A store of signed checkpoints outside the database (an interface so object storage can replace files). */
export interface CheckpointWitness {
  /** Stores one signed checkpoint; storing the same one again is harmless. */
  put(checkpoint: WitnessedCheckpoint): Promise<void>;
  /** An organization's witnessed checkpoints, lowest seq first. */
  list(organizationId: string): Promise<WitnessedCheckpoint[]>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * One JSON file per checkpoint: `<dir>/<organization id>/<seq, 20 digits>-<kind>.json`, written to a
 * temporary name and renamed, so a reader never sees half a checkpoint.
 */
export class FileCheckpointWitness implements CheckpointWitness {
  constructor(private readonly dir: string) {}

  private orgDir(organizationId: string): string {
    const org = organizationId.toLowerCase();
    if (!UUID.test(org)) throw new Error('invalid organization id');
    return path.join(this.dir, org);
  }

  async put(c: WitnessedCheckpoint): Promise<void> {
    const dir = this.orgDir(c.organizationId);
    await fs.mkdir(dir, { recursive: true });
    const target = path.join(dir, `${String(c.seq).padStart(20, '0')}-${c.kind}.json`);
    const tmp = `${target}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, `${JSON.stringify(c)}\n`);
    await fs.rename(tmp, target);
  }

  async list(organizationId: string): Promise<WitnessedCheckpoint[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.orgDir(organizationId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: WitnessedCheckpoint[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const parsed = JSON.parse(await fs.readFile(path.join(this.orgDir(organizationId), name), 'utf8')) as WitnessedCheckpoint;
      out.push(parsed);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }
}

/** The deployment's witness: files under `CHECKPOINT_WITNESS_DIR` (default `$DATA_DIR/transfer-log-witness`). */
export function checkpointWitness(config: { DATA_DIR: string; CHECKPOINT_WITNESS_DIR?: string | undefined }): CheckpointWitness {
  return new FileCheckpointWitness(config.CHECKPOINT_WITNESS_DIR ?? path.join(config.DATA_DIR, 'transfer-log-witness'));
}
