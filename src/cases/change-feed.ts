/**
 * Committed changes to case data, published after the ingest transaction commits. The sync engine
 * subscribes and enqueues one deduplicated reconcile per affected connection.
 */
export interface DataChange {
  organizationId: string;
  /** Ids (internal) of the cases whose data changed, including cases whose events, documents or contacts changed. */
  caseIds: string[];
  entities: Array<'case' | 'event' | 'document' | 'contact'>;
}

export type ChangeListener = (change: DataChange) => Promise<void> | void;

export interface ChangeFeed {
  publish(change: DataChange): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
}

/**
 * In-process change feed. A listener's failure is reported through `onError` and never undoes the
 * committed write: the periodic full reconcile (level-triggered) repairs any missed notification.
 */
export class InProcessChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();
  constructor(private readonly onError: (err: unknown, change: DataChange) => void = () => {}) {}

  async publish(change: DataChange): Promise<void> {
    for (const listener of this.listeners) {
      try {
        await listener(change);
      } catch (err) {
        this.onError(err, change);
      }
    }
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
