import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which transfer the current async context is performing. The gate runs every `perform` callback
 * inside `gateScope.run(...)`; the gated client factories under `src/transfers/clients/` call
 * `assertInsideGate()` before each request, so a provider client used outside the gate fails loudly
 * at run time (the architecture test catches raw clients at build time).
 */
export interface GateScope {
  transferId: string;
  connectionId: string;
  purpose: string;
  /** Requests this transfer has made so far (counted by {@link beforeProviderRequest}). */
  requests?: number;
  /**
   * The gate's check for a transfer's second and later requests (a GET after a 412, a PATCH after a
   * 409): whether the connection is still in the state the first request left under. Absent: no check.
   */
  stillAllowed?: () => Promise<boolean>;
}

export const gateScope = new AsyncLocalStorage<GateScope>();

/** Raised when a gated client is used outside a gate `perform` callback. */
export class UngatedTransferError extends Error {
  readonly code = 'ungated_transfer';
  constructor(what: string) {
    super(`${what} was called outside the outbound gate; wrap the call in gate.send/sendMany`);
    this.name = 'UngatedTransferError';
  }
}

/** The transfer being performed, or throws: every provider request must come from inside the gate. */
export function assertInsideGate(what: string): GateScope {
  const scope = gateScope.getStore();
  if (!scope) throw new UngatedTransferError(what);
  return scope;
}

/** A transfer's follow-up request refused: the connection changed (e.g. was revoked) after its first request. */
export class FollowUpRefusedError extends Error {
  readonly code = 'follow_up_refused';
  constructor(what: string) {
    super(`${what} was not sent: the connection changed (revoked, withdrawn or paused) after the transfer's first request`);
    this.name = 'FollowUpRefusedError';
  }
}

/**
 * Before each provider request: it must run inside the gate, and a transfer's second and later
 * requests leave only while the gate's check still allows them. The gate checked the connection before
 * the first request and a revocation waits for that call; but a revocation whose drain gave up has
 * answered its 202 while the call was still out, and a follow-up made after it would reach the
 * provider after the 202.
 */
export async function beforeProviderRequest(what: string): Promise<GateScope> {
  const scope = assertInsideGate(what);
  scope.requests = (scope.requests ?? 0) + 1;
  if (scope.requests > 1 && scope.stillAllowed && !(await scope.stillAllowed())) throw new FollowUpRefusedError(what);
  return scope;
}
