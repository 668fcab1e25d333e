import { CasebridgeError } from '../errors/index.ts';

/**
 * A refusal of the connections module: unknown or switched-off platform, settings that do not
 * parse, a connection in a state that does not allow the call, a transition the state machine
 * refuses. The code is stable; src/api decides the HTTP status.
 */
export class ConnectionsError extends CasebridgeError {}

/**
 * A failure of the provider's authorization callback: the browser is sent back to the app with
 * `?connection_error=<code>` instead of a JSON error.
 */
export class CallbackError extends ConnectionsError {}
