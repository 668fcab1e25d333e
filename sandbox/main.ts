import { emulators } from './emulators.ts';
import { startSandbox } from './server.ts';

/** `npm run sandbox`: the provider emulators on SANDBOX_PORT (default 4010). */
const port = Number(process.env.SANDBOX_PORT ?? 4010);
const sandbox = await startSandbox(emulators, { port });
console.log(`Casebridge sandbox listening on ${sandbox.url}`);
console.log(`  ledger: ${sandbox.url}/_sandbox/ledger   faults: POST ${sandbox.url}/_sandbox/faults`);
const stop = async () => {
  await sandbox.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
