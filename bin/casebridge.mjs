#!/usr/bin/env node
// `casebridge …` (`npx casebridge` in a checkout or the Docker image): runs the compiled CLI in
// dist/, which `npm run build` writes (`npm ci` and `npm install` run it through `prepare`). In a
// checkout without a build it runs the TypeScript source through tsx, a dev dependency; that costs
// the compiled path one file-existence check, and tsx is imported only when there is no build.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+ caches compiled code on disk between runs (a no-op where unsupported).
module.enableCompileCache?.();
// `casebridge --help | head`: a reader that stops early is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) cli = await import(compiled.href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../src/cli/main.ts');
}
process.exitCode = await cli.runCli(process.argv.slice(2));
