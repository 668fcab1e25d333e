#!/usr/bin/env node
// `npx casebridge ...` from the checkout (and inside the Docker image): runs the TypeScript CLI
// through tsx's loader, so there is no separate build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
