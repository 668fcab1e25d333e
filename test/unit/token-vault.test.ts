import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { needsRefresh, refreshAheadMs } from '../../src/connections/token-refresh.ts';
import { open, parseKeyring, seal, VaultError } from '../../src/connections/token-vault.ts';

const key = () => randomBytes(32).toString('base64');

describe('token vault crypto', () => {
  it('seals with the newest key and opens with any listed key', () => {
    const k1 = key();
    const k2 = key();
    const old = parseKeyring(`k1:${k1}`);
    const sealed = seal(old, 'secret-token', 'conn-a');
    expect(sealed.keyId).toBe('k1');
    expect(sealed.ciphertext).not.toContain('secret-token');
    const rotated = parseKeyring(`k2:${k2},k1:${k1}`);
    expect(open(rotated, sealed, 'conn-a')).toBe('secret-token');
    expect(seal(rotated, 'x', 'conn-a').keyId).toBe('k2');
  });

  it('binds a value to its connection (AAD) and detects tampering', () => {
    const ring = parseKeyring(`k1:${key()}`);
    const sealed = seal(ring, 'secret-token', 'conn-a');
    expect(() => open(ring, sealed, 'conn-b')).toThrow(VaultError);
    const [v, iv, tag, body] = sealed.ciphertext.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => open(ring, { ...sealed, ciphertext: [v, iv, tag, flipped.toString('base64url')].join('.') }, 'conn-a')).toThrow(/does not authenticate/);
    expect(seal(ring, 'same', 'conn-a').ciphertext).not.toBe(seal(ring, 'same', 'conn-a').ciphertext); // fresh IV each time
  });

  it('names a missing key instead of failing obscurely, and rejects bad keyrings', () => {
    const sealed = seal(parseKeyring(`gone:${key()}`), 't', 'c');
    expect(() => open(parseKeyring(`k1:${key()}`), sealed, 'c')).toThrow(/"gone"/);
    expect(() => parseKeyring('k1:c2hvcnQ=')).toThrow(VaultError);
    const k = key();
    expect(() => parseKeyring(`a:${k},a:${k}`)).toThrow(/twice/);
  });
});

describe('refresh ahead of expiry', () => {
  it('refreshes five minutes early for hour-long tokens, a quarter early for short ones', () => {
    const now = 1_000_000_000_000;
    const hour = { obtainedAt: now, expiresAt: now + 3600_000 };
    expect(refreshAheadMs(hour)).toBe(300_000);
    expect(needsRefresh(hour, now + 3600_000 - 300_001)).toBe(false);
    expect(needsRefresh(hour, now + 3600_000 - 299_000)).toBe(true);
    expect(refreshAheadMs({ obtainedAt: now, expiresAt: now + 8000 })).toBe(2000);
    expect(needsRefresh({ obtainedAt: now, expiresAt: null }, now + 1e12)).toBe(false);
  });
});
