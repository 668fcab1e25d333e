import { SCHEDULED_IMPORT_JOB } from '../../../queues/definitions.ts';
import type { Services } from '../../../src/services.ts';

/**
 * Waits until the import queue has nothing to do: no waiting, active or prioritized job and no
 * delayed one other than the periodic imports' next ticks (`scheduled-import`, always there).
 */
export async function waitImportIdle(services: Services, timeoutMs = 60_000): Promise<void> {
  const q = services.queues.import;
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (Date.now() < deadline) {
    const c = await q.getJobCounts('waiting', 'active', 'prioritized');
    const delayed = (await q.getDelayed()).filter((j) => j.name !== SCHEDULED_IMPORT_JOB).length;
    quiet = Object.values(c).reduce((a, b) => a + b, 0) + delayed === 0 ? quiet + 1 : 0;
    if (quiet >= 2) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('import queue not idle');
}
