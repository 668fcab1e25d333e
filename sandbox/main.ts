import { emulators } from './emulators.ts';
import { startSandbox } from './server.ts';
import { startSmtpCapture } from './smtp.ts';

/** `npm run sandbox`: the provider emulators on SANDBOX_PORT (default 4010). */
const port = Number(process.env.SANDBOX_PORT ?? 4010);
const sandbox = await startSandbox(emulators, { port });
console.log(`Casebridge sandbox listening on ${sandbox.url}`);
console.log(`  ledger: ${sandbox.url}/_sandbox/ledger   faults: POST ${sandbox.url}/_sandbox/faults`);
// The mail capture: point SMTP_URL here; captured messages are in the ledger (provider `smtp`).
const smtp = await startSmtpCapture({ state: sandbox.state, port: Number(process.env.SANDBOX_SMTP_PORT ?? 4025) });
console.log(`  mail capture: SMTP_URL=${smtp.url}   messages: ${sandbox.url}/_sandbox/ledger?provider=smtp`);
const stop = async () => {
  await smtp.close();
  await sandbox.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
