import type { ProviderErrorClass } from '../../connectors/types.ts';

/**
 * Run-level outcomes of a reconcile that are not "done": the queue maps each to an action (delay,
 * retry with backoff, stop for good). Item-level failures never throw; they are step results.
 */

/** The provider (or our own limiter) said "slow down": move the job to delayed for `waitMs`. */
export class RateLimitedRunError extends Error {
  readonly code = 'rate_limited';
  constructor(
    readonly waitMs: number,
    readonly source: 'provider' | 'limiter',
  ) {
    super(`rate limited by the ${source}; resume in ${Math.ceil(waitMs / 1000)} s`);
    this.name = 'RateLimitedRunError';
  }
}

/** Worth retrying later with backoff (network, 5xx, a conflict that may clear). */
export class TransientRunError extends Error {
  readonly code = 'transient';
  constructor(message: string) {
    super(message);
    this.name = 'TransientRunError';
  }
}

/** Not retryable until something changes (the user fixes a setting, reconnects...). */
export class PermanentRunError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentRunError';
  }
}

/** Another run of the same connection holds the run lock: try again shortly. */
export class RunLockBusyError extends Error {
  readonly code = 'run_lock_busy';
  constructor(readonly connectionId: string) {
    super('another reconcile of this connection is running');
    this.name = 'RunLockBusyError';
  }
}

/** The worker is shutting down: the run stopped at a chunk boundary (state is saved). */
export class RunInterruptedError extends Error {
  readonly code = 'interrupted';
  constructor() {
    super('reconcile interrupted by shutdown; it resumes where it stopped');
    this.name = 'RunInterruptedError';
  }
}

/** A connector step (provisioning, listing) failed at the provider; carries the classification. */
export class ProviderStepError extends Error {
  constructor(
    readonly step: string,
    readonly errorClass: ProviderErrorClass,
  ) {
    super(`${step}: ${errorClass.message}`);
    this.name = 'ProviderStepError';
  }
}
