import { describe, expect, it } from 'vitest';
import { apiErrorFor, statusForCode } from '../../src/api/error-status.ts';
import { LastAdminError } from '../../src/auth/users.ts';
import { IngestError } from '../../src/cases/errors.ts';
import { CallbackError, ConnectionsError } from '../../src/connections/errors.ts';
import { VaultError } from '../../src/connections/token-vault.ts';
import { ConsentError } from '../../src/consent/service.ts';
import { AuthError, CasebridgeError, NotFoundError } from '../../src/errors/index.ts';
import { RevocationError } from '../../src/revocation/service.ts';

describe('domain errors', () => {
  it('share one base class with a stable code and no HTTP status', () => {
    const errors: CasebridgeError[] = [
      new AuthError('unauthenticated', 'sign in first'),
      new NotFoundError('connection'),
      new ConnectionsError('connection_revoked', 'revoked'),
      new CallbackError('state_invalid', 'no state'),
      new ConsentError('attestation_required', 'say it', { categories: ['x'] }),
      new RevocationError('target_not_found', 'no such user'),
      new LastAdminError(),
      new IngestError('duplicate_item', 'twice', []),
      new VaultError('decrypt_failed', 'does not authenticate'),
    ];
    for (const e of errors) {
      expect(e).toBeInstanceOf(CasebridgeError);
      expect(e.code).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(e).not.toHaveProperty('status');
    }
    expect(new NotFoundError('connection').code).toBe('not_found');
    expect(new LastAdminError().name).toBe('LastAdminError');
  });
});

describe('src/api maps domain codes to HTTP statuses', () => {
  it('gives each refusal the status a client expects', () => {
    expect(apiErrorFor(new AuthError('unauthenticated', 'x'))?.status).toBe(401);
    expect(apiErrorFor(new AuthError('csrf_token_invalid', 'x'))?.status).toBe(403);
    expect(apiErrorFor(new NotFoundError('connection'))?.status).toBe(404);
    expect(apiErrorFor(new ConnectionsError('connection_revoked', 'x'))?.status).toBe(409);
    expect(apiErrorFor(new ConnectionsError('connection_transition_refused', 'x'))?.status).toBe(409);
    expect(apiErrorFor(new CallbackError('token_exchange_failed', 'x'))?.status).toBe(502);
    expect(apiErrorFor(new ConnectionsError('platform_not_configured', 'x'))?.status).toBe(503);
    expect(apiErrorFor(new ConsentError('attestation_required', 'x'))?.status).toBe(400);
  });

  it('keeps the code, message and details of the domain error', () => {
    const api = apiErrorFor(new ConsentError('category_not_supported', 'cannot carry', { categories: ['a'] }));
    expect(api).toMatchObject({ status: 400, code: 'category_not_supported', message: 'cannot carry', details: { categories: ['a'] } });
  });

  it('does not guess a status for a code it does not know (the app answers 500 and logs it)', () => {
    expect(statusForCode('decrypt_failed')).toBeNull();
    expect(statusForCode('toString')).toBeNull();
    expect(apiErrorFor(new VaultError('decrypt_failed', 'x'))).toBeNull();
  });
});
