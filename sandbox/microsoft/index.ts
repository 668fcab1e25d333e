import type { ProviderEmulator } from '../server.ts';
import { microsoftGraphEmulator } from './graph.ts';
import { microsoftIdentityEmulator } from './identity.ts';

/** Microsoft under `/microsoft`: the identity platform v2 and Graph v1.0 (contacts, delta, $batch, sendMail). */
export const microsoftEmulator: ProviderEmulator = (app, ctx) => {
  microsoftIdentityEmulator(app, ctx);
  microsoftGraphEmulator(app, ctx);
};
