import os from 'node:os';
import path from 'node:path';
import { lintOpenApi, writeFile } from './openapi-contract.ts';
import { createTestServices } from './services.ts';

/**
 * `npm run lint:openapi`: builds the app on throw-away services (PGlite in memory, a random Redis
 * prefix), writes its OpenAPI document to `$TMPDIR/casebridge-openapi.json` and lints it with
 * Redocly's recommended rules (redocly.yaml). Exits 1 on any error or warning.
 */
const t = await createTestServices();
try {
  const file = path.join(os.tmpdir(), 'casebridge-openapi.json');
  writeFile(file, JSON.stringify(await (await t.app.request('/openapi.json')).json(), null, 2));
  const result = await lintOpenApi(file);
  for (const p of result.problems) console.log(`${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`);
  console.log(`${file}: ${result.errors} error(s), ${result.warnings} warning(s)`);
  process.exitCode = result.errors + result.warnings > 0 ? 1 : 0;
} finally {
  await t.cleanup();
}
