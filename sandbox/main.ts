import { emulators } from './emulators.ts';
import { startSandbox } from './server.ts';
import { startSmtpCapture } from './smtp.ts';

/** `npm run sandbox`: the provider emulators on SANDBOX_PORT (default 4010). */
const port = Number(process.env.SANDBOX_PORT ?? 4010);
const sandbox = await startSandbox(emulators, { port });
console.log(`Casebridge sandbox listening on ${sandbox.url}`);
console.log(`  ledger: ${sandbox.url}/_sandbox/ledger   faults: POST ${sandbox.url}/_sandbox/faults`);
// The mail capture: point SMTP_URL here; captured messages are in the ledger (provider `smtp`).
// SANDBOX_SMTP_PORT, else 4025, else (SANDBOX_PORT=0, or 4025 taken) any free port.
const smtpPort = Number(process.env.SANDBOX_SMTP_PORT ?? (port === 0 ? 0 : 4025));
const smtp = await startSmtpCapture({ state: sandbox.state, port: smtpPort }).catch(() => startSmtpCapture({ state: sandbox.state, port: 0 }));
console.log(`  mail capture: SMTP_URL=${smtp.url}   messages: ${sandbox.url}/_sandbox/ledger?provider=smtp`);
const stop = async () => {
  await smtp.close();
  await sandbox.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
