import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactVerify, importJWK, type JWK } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationViewSchema } from '../../src/api/schemas/revocations.ts';
import { revocationCommands } from '../../src/cli/revocation-commands.ts';
import { canonicalJson } from '../../src/transfers/canonical.ts';
import { checkpointMessage } from '../../src/transfers/checkpoints.ts';
import { TransferLogWriter } from '../../src/transfers/log-writer.ts';
import { getSigningKey, jcs, signBytes, signJson } from '../../src/transfers/signing.ts';
import { verifyTransferLog } from '../../src/transfers/verify.ts';
import { seedOrg, signInAs } from '../support/fixtures.ts';
import { createTestServices, type TestServices } from '../support/services.ts';
import { logEntry } from './helpers.ts';

/**
 * Checkpoints and receipts are JWS that an auditor checks with a stock JOSE library and the JWK the
 * deployment publishes — none of our code on the verifying side. Those issued before JWS still verify.
 */

/** `header.payload.signature` with the payload replaced by other JSON (the signature kept). */
function withPayload(jws: string, payload: unknown): string {
  const [header, , signature] = jws.split('.');
  return `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
}

const decode = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

describe('RFC 8785 canonical JSON of signed payloads', () => {
  it('matches the examples of RFC 8785 §3.2.2 and §3.2.3', () => {
    const input = String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`;
    expect(jcs(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
    const sorting = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const keyOrder = [...jcs(sorting).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(keyOrder).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  });

  it('sorts integer-like keys as strings, where the transfer log’s canonical form does not (why JWS payloads use jcs)', () => {
    expect(jcs({ 9: 'a', 10: 'b' })).toBe('{"10":"b","9":"a"}');
    expect(canonicalJson({ 9: 'a', 10: 'b' })).toBe('{"9":"a","10":"b"}');
    expect(() => jcs({ n: Number.NaN })).toThrow();
  });
});

describe('JWS checkpoints and receipts', () => {
  let t: TestServices;
  let jwk: JWK;
  let dir: string;
  beforeAll(async () => {
    t = await createTestServices();
    const res = await t.app.request('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    jwk = ((await res.json()) as { keys: JWK[] }).keys[0]!;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signed-statements-'));
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await t.cleanup();
  });

  it('publishes the signing key as a JWK, the same one the signed-in endpoint names', async () => {
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(Object.keys(jwk)).not.toContain('d');
    const org = await seedOrg(t.services, 'Key Firm');
    const member = await signInAs(t.services, { id: org.member.id, organizationId: org.organizationId, role: 'member' });
    const body = (await (await t.app.request('/v1/transfers/signing-key', { headers: member })).json()) as { keyId: string; jwk: JWK };
    expect(body.jwk).toEqual(jwk);
    expect(body.keyId).toBe(jwk.kid);
  });

  it('seals a checkpoint as a JWS that jose verifies with the published JWK; an edited one fails', async () => {
    const org = await seedOrg(t.services, 'Checkpoint Firm');
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 1), logEntry(org.organizationId, 2), logEntry(org.organizationId, 3)]);
    const res = await t.app.request('/v1/admin/transfers/checkpoints', { method: 'POST', headers: admin });
    expect(res.status).toBe(200);
    const { sealed } = (await res.json()) as { sealed: Array<{ seq: number; headHash: string; jws: string }> };
    const head = await t.services.db.selectFrom('transfer_log_heads').selectAll().where('organization_id', '=', org.organizationId).executeTakeFirstOrThrow();

    const key = await importJWK(jwk, 'EdDSA');
    const { payload, protectedHeader } = await compactVerify(sealed[0]!.jws, key);
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: jwk.kid, typ: 'transfer-log-checkpoint+jws' });
    expect(decode(payload)).toMatchObject({
      type: 'casebridge.transfer-log.checkpoint',
      version: 2,
      organizationId: org.organizationId,
      treeSize: 3,
      headHash: head.hash,
    });

    const forged = withPayload(sealed[0]!.jws, { ...(decode(payload) as object), treeSize: 2 });
    await expect(compactVerify(forged, key)).rejects.toThrow(/signature verification failed/);

    // The verify report hands out the newest checkpoint's JWS too.
    const report = await t.app.request('/v1/admin/transfers/verify', { headers: admin });
    const org0 = ((await report.json()) as { organizations: Array<{ ok: boolean; lastCheckpoint: { jws: string } }> }).organizations[0]!;
    expect(org0.ok).toBe(true);
    expect(org0.lastCheckpoint.jws).toBe(sealed[0]!.jws);
  });

  it('refuses a checkpoint row whose columns no longer say what its JWS signed, or that carries another row’s JWS', async () => {
    const a = await seedOrg(t.services, 'Swap A');
    const b = await seedOrg(t.services, 'Swap B');
    const writer = new TransferLogWriter(t.services.db);
    for (const org of [a, b]) {
      await writer.append([logEntry(org.organizationId, 1)]);
      await t.app.request('/v1/admin/transfers/checkpoints', {
        method: 'POST',
        headers: await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' }),
      });
    }
    const asDba = async (statement: ReturnType<typeof sql>) => {
      await sql`ALTER TABLE transfer_log_checkpoints DISABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
      try {
        await statement.execute(t.services.db);
      } finally {
        await sql`ALTER TABLE transfer_log_checkpoints ENABLE TRIGGER transfer_log_checkpoints_append_only`.execute(t.services.db);
      }
    };
    await asDba(
      sql`UPDATE transfer_log_checkpoints SET jws = (SELECT jws FROM transfer_log_checkpoints WHERE organization_id = ${b.organizationId}) WHERE organization_id = ${a.organizationId}`,
    );
    await asDba(sql`UPDATE transfer_log_checkpoints SET sealed_at = sealed_at - interval '1 day' WHERE organization_id = ${b.organizationId}`);
    for (const org of [a, b]) {
      const report = await verifyTransferLog(t.services, { organizationId: org.organizationId });
      expect(report.organizations[0]!.firstBroken, org.organizationId).toMatchObject({ kind: 'checkpoint_signature_invalid', seq: 1 });
    }
  });

  it('still verifies checkpoints signed before JWS (format 1), and catches a forged one', async () => {
    const org = await seedOrg(t.services, 'Legacy Checkpoint');
    await new TransferLogWriter(t.services.db).append([logEntry(org.organizationId, 1), logEntry(org.organizationId, 2)]);
    const key = getSigningKey(t.config);
    const rows = await t.services.db
      .selectFrom('transfer_log')
      .select(['seq', 'hash'])
      .where('organization_id', '=', org.organizationId)
      .orderBy('seq')
      .execute();
    const sealedAt = new Date(Date.now() - 60_000);
    for (const row of rows) {
      const facts = { organizationId: org.organizationId, seq: Number(row.seq), headHash: row.hash, sealedAt, kind: 'periodic' as const, keyId: key.keyId };
      // Row 2's signature covers another head hash: a forgery.
      const signed = row.seq === rows[1]!.seq ? { ...facts, headHash: 'f'.repeat(64) } : facts;
      await t.services.db
        .insertInto('transfer_log_checkpoints')
        .values({
          organization_id: org.organizationId,
          seq: facts.seq,
          head_hash: facts.headHash,
          kind: 'periodic',
          key_id: key.keyId,
          signature: signBytes(key, checkpointMessage(signed)),
          sealed_at: sealedAt,
        })
        .execute();
    }
    const report = (await verifyTransferLog(t.services, { organizationId: org.organizationId })).organizations[0]!;
    expect(report.checkpointsVerified).toBe(1);
    expect(report.firstBroken).toMatchObject({ kind: 'checkpoint_signature_invalid', seq: 2 });
    expect(report.lastCheckpoint).toMatchObject({ seq: 1, jws: null });
  });

  it('signs a revocation receipt as a JWS that jose verifies with the published JWK; the CLI agrees; an edit fails', async () => {
    const org = await seedOrg(t.services, 'Receipt Firm');
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    // A user without connections: the receipt is sealed before the request answers.
    const res = await t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'user', userId: org.member.id }, reason: 'left the firm', purgeRemote: false }),
    });
    expect(res.status).toBe(202);
    const { revocation } = (await res.json()) as { revocation: { id: string } };
    const viewBody = await (await t.app.request(`/v1/admin/revocations/${revocation.id}`, { headers: admin })).json();
    expect(() => RevocationViewSchema.parse(viewBody)).not.toThrow();
    const view = (viewBody as { revocation: { receipt: { version: number; payload: Record<string, unknown>; jws: string }; publicKeyJwk: JWK } }).revocation;
    expect(view.receipt.version).toBe(2);
    expect(view.publicKeyJwk).toEqual(jwk);

    const key = await importJWK(jwk, 'EdDSA');
    const { payload, protectedHeader } = await compactVerify(view.receipt.jws, key);
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: jwk.kid, typ: 'revocation-receipt+jws' });
    expect(decode(payload)).toEqual(view.receipt.payload);
    expect(decode(payload)).toMatchObject({ type: 'casebridge.revocation_receipt', version: 2, revocationId: revocation.id, reason: 'left the firm' });
    await expect(compactVerify(withPayload(view.receipt.jws, { ...view.receipt.payload, reason: 'routine' }), key)).rejects.toThrow(
      /signature verification failed/,
    );

    // `receipts verify` with the JWK file an auditor saved: the receipt passes; an edited readable copy
    // or an edited JWS fails.
    const jwkFile = path.join(dir, 'jwks.json');
    fs.writeFileSync(jwkFile, JSON.stringify({ keys: [jwk] }));
    expect(await verifyFile(view.receipt, jwkFile)).toBe(0);
    expect(await verifyFile({ ...view.receipt, payload: { ...view.receipt.payload, reason: 'routine' } }, jwkFile)).toBe(1);
    expect(await verifyFile({ ...view.receipt, jws: withPayload(view.receipt.jws, { ...view.receipt.payload, reason: 'routine' }) }, jwkFile)).toBe(1);
  });

  it('keeps revocation receipts issued before JWS (version 1) verifiable', async () => {
    const org = await seedOrg(t.services, 'Legacy Receipt');
    const admin = await signInAs(t.services, { id: org.admin.id, organizationId: org.organizationId, role: 'admin' });
    const res = await t.app.request('/v1/admin/revocations', {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { kind: 'user', userId: org.member.id }, reason: 'older receipt', purgeRemote: false }),
    });
    const { revocation } = (await res.json()) as { revocation: { id: string } };
    // Rewrite the stored receipt as an earlier version signed it: a detached signature over canonicalJson.
    const row = await t.services.db.selectFrom('revocations').select('receipt').where('id', '=', revocation.id).executeTakeFirstOrThrow();
    const legacy = signJson(getSigningKey(t.config), { ...row.receipt, version: 1 });
    await t.services.db
      .updateTable('revocations')
      .set({ receipt: JSON.stringify(legacy.payload), receipt_signature: legacy.signature.value, receipt_jws: sql<string>`NULL` })
      .where('id', '=', revocation.id)
      .execute();
    const viewBody = await (await t.app.request(`/v1/admin/revocations/${revocation.id}`, { headers: admin })).json();
    expect(() => RevocationViewSchema.parse(viewBody)).not.toThrow();
    const view = (viewBody as { revocation: { receipt: { version: number; payload: Record<string, unknown> }; publicKey: string } }).revocation;
    expect(view.receipt).toMatchObject({ version: 1, signature: { algorithm: 'Ed25519', keyId: jwk.kid } });
    const pemFile = path.join(dir, 'key.pem');
    fs.writeFileSync(pemFile, view.publicKey);
    for (const keyFile of [pemFile, path.join(dir, 'jwks.json')]) {
      expect(await verifyFile(view.receipt, keyFile)).toBe(0);
      expect(await verifyFile({ ...view.receipt, payload: { ...view.receipt.payload, reason: 'edited' } }, keyFile)).toBe(1);
    }
  });

  /** `casebridge receipts verify FILE --public-key KEYFILE`, its exit code. */
  async function verifyFile(receipt: unknown, keyFile: string): Promise<number | undefined> {
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const file = path.join(dir, `receipt-${randomUUID()}.json`);
    fs.writeFileSync(file, JSON.stringify(receipt));
    const cmd = revocationCommands.find((c) => c.words.join(' ') === 'receipts verify')!;
    return cmd.run({ args: { 'public-key': keyFile }, positionals: [file], config: t.config, services: null, print: () => {} });
  }
});
