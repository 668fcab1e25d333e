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
