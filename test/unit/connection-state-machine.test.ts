import { describe, expect, it } from 'vitest';
import { CONNECTION_TRANSITIONS, canTransition, statusesLeadingTo } from '../../src/connections/state-machine.ts';
import type { ConnectionStatus } from '../../src/db/types.ts';

const ALL: ConnectionStatus[] = ['pending', 'active', 'reauth_required', 'paused', 'revoked'];

describe('connection state machine', () => {
  it('allows exactly the lifecycle transitions and refuses every other one', () => {
    const allowed = ALL.flatMap((from) => ALL.filter((to) => canTransition(from, to)).map((to) => `${from} -> ${to}`));
    expect(allowed.sort()).toEqual(
      [
        'pending -> active',
        'pending -> revoked',
        'active -> active',
        'active -> reauth_required',
        'active -> paused',
        'active -> revoked',
        'reauth_required -> active',
        'reauth_required -> revoked',
        'paused -> active',
        'paused -> revoked',
      ].sort(),
    );
    // Everything else is refused, for instance:
    expect(canTransition('revoked', 'active')).toBe(false);
    expect(canTransition('paused', 'reauth_required')).toBe(false);
    expect(canTransition('pending', 'paused')).toBe(false);
    expect(canTransition('reauth_required', 'paused')).toBe(false);
    expect(canTransition('active', 'pending')).toBe(false);
  });

  it('never leaves revoked: a revoked connection is final', () => {
    expect(CONNECTION_TRANSITIONS.revoked).toEqual([]);
    for (const to of ALL) expect(canTransition('revoked', to)).toBe(false);
  });

  it('derives the statuses an UPDATE may start from out of the same table', () => {
    expect(statusesLeadingTo('reauth_required')).toEqual(['active']);
    expect(statusesLeadingTo('revoked').sort()).toEqual(['active', 'paused', 'pending', 'reauth_required']);
    expect(statusesLeadingTo('pending')).toEqual([]);
  });
});
