import { connectors } from '../../connectors/registry.ts';
import type { Config } from '../config/load.ts';

/**
 * Origins of the providers' sign-in pages, from configuration only: the pages whose forms lead to
 * an authorization (connect, reconnect) allow them in `form-action`, nothing else.
 */
export function providerOrigins(config: Config): string[] {
  const out = new Set<string>();
  for (const connector of connectors) {
    if (!connector.oauth) continue;
    try {
      out.add(new URL(connector.oauth.authorizationEndpoint(config)).origin);
    } catch {
      // A platform without a configured client has no sign-in page to allow.
    }
  }
  return [...out];
}
