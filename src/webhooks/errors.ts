import { CasebridgeError } from '../errors/index.ts';

/**
 * A refusal of the webhooks module: a URL that is not acceptable (`webhook_url_invalid`,
 * `webhook_url_private`), an unknown event type, a delivery that cannot be replayed. The code is
 * stable; src/api/error-status.ts decides the HTTP status.
 */
export class WebhooksError extends CasebridgeError {}
