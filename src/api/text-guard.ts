import type { MiddlewareHandler } from 'hono';
import { isStorableText, UNSTORABLE_TEXT_MESSAGE } from '../security/storable-text.ts';
import type { AppEnv } from './env.ts';
import { errorBody } from './errors.ts';

/**
 * Refuses text PostgreSQL cannot store, before any handler runs — so it can never surface as a
 * database error (a 500, or a request half-applied) deep inside a route:
 * - the NUL character (U+0000) in the URL (path or query, `%00`) or in a JSON body's strings or keys
 *   (text columns cannot hold it);
 * - an unpaired UTF-16 surrogate in a JSON body (`"\ud800"`: jsonb refuses it, and UTF-8 cannot
 *   encode it).
 * Answered 400 `invalid_text` with the path of the first offending string. JSON carries either only as
 * an escape (`\u0000`, `\ud8xx`…`\udfxx`), so a body without such text is passed on untouched; the
 * body is read once and Hono's cache hands the same text to the route's validator. (Invalid UTF-8 in
 * a URL or body is decoded as U+FFFD, which is storable.)
 */
export function textGuard(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (/%00/i.test(c.req.url)) return c.json(refusal('(url)'), 400);
    if ((c.req.header('content-type') ?? '').toLowerCase().includes('json')) {
      const raw = await c.req.text();
      if (SUSPECT_ESCAPE.test(raw)) {
        let body: unknown;
        try {
          body = JSON.parse(raw);
        } catch {
          return next(); // malformed JSON: the route answers `malformed_json`
        }
        const path = unstorablePath(body, []);
        if (path !== null) return c.json(refusal(path || '(body)'), 400);
      }
    }
    return next();
  };
}

/** `\u0000` or a surrogate escape, in JSON text (a valid pair is checked and let through). */
const SUSPECT_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

function refusal(path: string) {
  return errorBody('invalid_text', `text ${UNSTORABLE_TEXT_MESSAGE}`, [{ path, message: UNSTORABLE_TEXT_MESSAGE }]);
}

/** The dotted path of the first string (or key) that cannot be stored, or null. */
export function unstorablePath(value: unknown, path: Array<string | number>): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path.join('.');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorablePath(value[i], [...path, i]);
      if (found !== null) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!isStorableText(k)) return [...path, JSON.stringify(k).slice(1, -1)].join('.');
      const found = unstorablePath(v, [...path, k]);
      if (found !== null) return found;
    }
  }
  return null;
}
