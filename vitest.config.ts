import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'connectors/**/*.test.ts', 'queues/**/*.test.ts', 'sandbox/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two forks keep the machine responsive; each file has its own schema/redis prefix.
    pool: 'forks',
    maxWorkers: 2,
    env: { LOG_LEVEL: 'silent' },
    // BullMQ moves a job to delayed by throwing DelayedError from the processor; when a test closes its
    // worker while such a job is being handed back, that rejection can surface after the worker is gone.
    // It is BullMQ's control flow, not a failure; every other unhandled error still fails the run.
    onUnhandledError: (error) => !(error.name === 'DelayedError' && error.message === 'bullmq:movedToDelayed'),
  },
});
