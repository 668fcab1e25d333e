/**
 * Progress of a reconcile run, for people: GET /v1/connections/:id shows it (connections.sync_progress)
 * and the job carries it. Written in the background and throttled, so it never slows a run.
 */

/** What GET /v1/connections/:id shows while and after a run (connections.sync_progress). */
export interface SyncProgress {
  state: 'running' | 'idle' | 'waiting' | 'failed';
  reason: string;
  full: boolean;
  startedAt: string;
  finishedAt?: string;
  planned: { create: number; update: number; delete: number };
  done: { created: number; updated: number; deleted: number; failed: number; blocked: number };
  unchanged: number;
  skipped: number;
  remaining: number;
  providerCalls: number;
  jobId?: string;
  /** When a delayed run resumes. */
  resumesAt?: string;
  message?: string;
}

/** Persists progress snapshots in order, in the background; at most once a second when throttled. */
export class ProgressReporter {
  private reportedAt: number;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: {
      write(snapshot: SyncProgress): Promise<void>;
      /** A failed write is reported here and otherwise ignored: progress must not fail a run. */
      onError(err: unknown): void;
    },
    options: {
      /**
       * The first throttled snapshot waits a throttle interval from now, as if one had just been
       * written: a run that is over within a second shows only its end (one write, not two).
       */
      quietStart?: boolean;
    } = {},
  ) {
    this.reportedAt = options.quietStart ? Date.now() : 0;
  }

  /** Queues a snapshot of `progress` (skipped when `throttle`d and the last one is under a second old). Returns the write chain. */
  report(progress: SyncProgress, throttle = false): Promise<void> {
    if (throttle && Date.now() - this.reportedAt < 1000) return this.writes;
    this.reportedAt = Date.now();
    const snapshot = JSON.parse(JSON.stringify(progress)) as SyncProgress;
    this.writes = this.writes.then(() => this.sink.write(snapshot)).catch((err: unknown) => this.sink.onError(err));
    return this.writes;
  }

  /** Waits for the snapshots queued so far. */
  flush(): Promise<void> {
    return this.writes;
  }
}
