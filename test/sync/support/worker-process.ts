/**
 * A sync worker in its own process, for the crash test: services from the environment (the test's
 * PostgreSQL schema in CB_TEST_SCHEMA, its Redis prefix, the sandbox URL), then the BullMQ workers.
 * Prints "ready" once listening; SIGTERM closes gracefully, SIGKILL is the crash under test.
 */
import { startWorkers } from '../../../queues/index.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { composeServices } from '../../../src/main.ts';

const config = loadConfig(process.env);
if (process.env.CB_TEST_SCHEMA && config.database.kind === 'postgres') {
  config.database = { kind: 'postgres', url: config.database.url, schema: process.env.CB_TEST_SCHEMA };
}
const services = await composeServices(config, { migrate: false });
const workers = await startWorkers(services, { maintenance: false, sync: { chunkSize: Number(process.env.CB_TEST_CHUNK ?? 10) } });
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void (async () => {
    await workers.close();
    await services.close();
    process.stdout.write('closed\n');
    process.exit(0);
  })();
});
