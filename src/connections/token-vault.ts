import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, Tx } from '../db/database.ts';
import { CasebridgeError } from '../errors/index.ts';

/**
 * The token vault: provider tokens encrypted at rest with AES-256-GCM. Each value stores the id of
 * the key that sealed it; the connection id is the additional authenticated data, so a ciphertext
 * copied onto another connection's row does not decrypt. Keys come from `TOKEN_ENCRYPTION_KEYS`
 * (`kid:base64,kid:base64`, newest first): new values are sealed with the newest, any listed key
 * opens old ones, and `casebridge keys rotate` re-seals everything under the newest. Deleting the row
 * is crypto-shredding. Plaintext tokens exist only in memory, never in logs or responses.
 */

/** Keys by id; `current` seals, all open. */
export interface Keyring {
  current: { id: string; key: Buffer };
  keys: Map<string, Buffer>;
}

/** A vault failure: unknown key id (a key was removed too early) or a value that does not authenticate. */
export class VaultError extends CasebridgeError {
  constructor(
    override readonly code: 'unknown_key' | 'decrypt_failed' | 'invalid_keyring',
    message: string,
  ) {
    super(code, message);
  }
}

/** Parses `kid:base64,kid:base64` (newest first); every key must be 32 bytes. */
export function parseKeyring(spec: string): Keyring {
  const keys = new Map<string, Buffer>();
  let current: Keyring['current'] | null = null;
  for (const pair of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(':');
    const id = pair.slice(0, i);
    const key = Buffer.from(pair.slice(i + 1), 'base64');
    if (i <= 0 || key.length !== 32) throw new VaultError('invalid_keyring', 'each TOKEN_ENCRYPTION_KEYS entry must be kid:base64 of 32 bytes');
    if (keys.has(id)) throw new VaultError('invalid_keyring', `key id ${id} appears twice in TOKEN_ENCRYPTION_KEYS`);
    keys.set(id, key);
    current ??= { id, key };
  }
  if (!current) throw new VaultError('invalid_keyring', 'TOKEN_ENCRYPTION_KEYS lists no key');
  return { current, keys };
}

const FORMAT = 'v1';

/** Seals a plaintext under the newest key; AAD binds it to `aad` (the connection id). */
export function seal(keyring: Keyring, plaintext: string, aad: string): { keyId: string; ciphertext: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return { keyId: keyring.current.id, ciphertext: [FORMAT, iv.toString('base64url'), tag.toString('base64url'), body.toString('base64url')].join('.') };
}

/** Opens a sealed value with the key it names; throws VaultError when the key is unknown or the value was altered or moved. */
export function open(keyring: Keyring, sealed: { keyId: string; ciphertext: string }, aad: string): string {
  const key = keyring.keys.get(sealed.keyId);
  if (!key) throw new VaultError('unknown_key', `token sealed with key "${sealed.keyId}", which TOKEN_ENCRYPTION_KEYS no longer lists`);
  const [format, iv, tag, body] = sealed.ciphertext.split('.');
  if (format !== FORMAT || !iv || !tag || body === undefined) throw new VaultError('decrypt_failed', 'stored token has an unknown format');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new VaultError('decrypt_failed', 'stored token does not authenticate (altered, or moved from another connection)');
  }
}

/** What the vault keeps per connection. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Epoch ms; null when the provider gave no lifetime. */
  expiresAt: number | null;
  /** Epoch ms when this access token was obtained (refresh-ahead uses the lifetime). */
  obtainedAt: number;
  scope: string | null;
}

/** Reads and writes the `connection_tokens` table through the keyring. */
export class TokenVault {
  constructor(
    private readonly db: Db,
    readonly keyring: Keyring,
  ) {}

  async save(connectionId: string, tokens: StoredTokens, tx?: Db | Tx): Promise<void> {
    const { keyId, ciphertext } = seal(this.keyring, JSON.stringify(tokens), connectionId);
    const values = {
      key_id: keyId,
      ciphertext,
      access_expires_at: tokens.expiresAt ? new Date(tokens.expiresAt) : null,
      scope: tokens.scope,
      updated_at: new Date(),
    };
    await (tx ?? this.db)
      .insertInto('connection_tokens')
      .values({ connection_id: connectionId, ...values })
      .onConflict((oc) => oc.column('connection_id').doUpdateSet(values))
      .execute();
  }

  async load(connectionId: string): Promise<StoredTokens | null> {
    const row = await this.db.selectFrom('connection_tokens').select(['key_id', 'ciphertext']).where('connection_id', '=', connectionId).executeTakeFirst();
    if (!row) return null;
    return JSON.parse(open(this.keyring, { keyId: row.key_id, ciphertext: row.ciphertext }, connectionId)) as StoredTokens;
  }

  /** Crypto-shredding: the tokens are gone for good. */
  async remove(connectionId: string, tx?: Db | Tx): Promise<void> {
    await (tx ?? this.db).deleteFrom('connection_tokens').where('connection_id', '=', connectionId).execute();
  }

  /**
   * Re-seals every value not under the newest key. Each row is updated only if it did not change
   * meanwhile (a concurrent refresh wins; it already wrote under the newest key). Returns counts.
   */
  async rotate(options: { batchSize?: number } = {}): Promise<{ total: number; resealed: number; failed: Array<{ connectionId: string; code: string }> }> {
    const batchSize = options.batchSize ?? 500;
    const failed: Array<{ connectionId: string; code: string }> = [];
    let resealed = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await this.db
        .selectFrom('connection_tokens')
        .select(['connection_id', 'key_id', 'ciphertext'])
        .where('key_id', '!=', this.keyring.current.id)
        .where(sql<boolean>`connection_id > ${after}::uuid`)
        .orderBy('connection_id')
        .limit(batchSize)
        .execute();
      if (!rows.length) break;
      for (const row of rows) {
        after = row.connection_id;
        let plaintext: string;
        try {
          plaintext = open(this.keyring, { keyId: row.key_id, ciphertext: row.ciphertext }, row.connection_id);
        } catch (err) {
          failed.push({ connectionId: row.connection_id, code: err instanceof VaultError ? err.code : 'error' });
          continue;
        }
        const next = seal(this.keyring, plaintext, row.connection_id);
        const res = await this.db
          .updateTable('connection_tokens')
          .set({ key_id: next.keyId, ciphertext: next.ciphertext })
          .where('connection_id', '=', row.connection_id)
          .where('ciphertext', '=', row.ciphertext)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) resealed += 1;
      }
    }
    const total = Number(
      (
        await this.db
          .selectFrom('connection_tokens')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    return { total, resealed, failed };
  }
}
