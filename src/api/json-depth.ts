import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { errorBody } from './errors.ts';

/**
 * How deeply a JSON request body may nest arrays and objects. Every body this API accepts is a few
 * levels deep (a bulk item's participants are five); 64 leaves room for any honest client while
 * keeping recursive work downstream (validation, the text guard, logging) small and bounded.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth`. One pass over the characters, no
 * allocation, stopping at the first bracket too deep: it runs before any parsing, so a hostile body
 * (thousands of `[`) costs no more than reading it. Brackets inside strings (escapes included) are not
 * counted. Malformed text is not judged here — the parser refuses it afterwards.
 */
export function jsonDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH)
        i++; // the escaped character, whatever it is, cannot end the string
      else if (ch === QUOTE) inString = false;
    } else if (ch === QUOTE) {
      inString = true;
    } else if (ch === OPEN_BRACKET || ch === OPEN_BRACE) {
      if (++depth > maxDepth) return true;
    } else if (ch === CLOSE_BRACKET || ch === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Refuses a JSON body nested more than `maxDepth` levels with 400 `json_too_deep`, before anything
 * parses it and before authentication (the check is cheaper than looking up a session). The body is
 * read once; Hono's cache hands the same text to the text guard and the route's validator.
 */
export function jsonDepthLimit(maxDepth = MAX_JSON_DEPTH): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if ((c.req.header('content-type') ?? '').toLowerCase().includes('json')) {
      if (jsonDeeperThan(await c.req.text(), maxDepth)) {
        return c.json(errorBody('json_too_deep', `the JSON body nests arrays and objects more than ${maxDepth} levels deep`), 400);
      }
    }
    return next();
  };
}
