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
 * a URL or body is decoded as U+FFFD, which is storable.) Runs after the JSON depth limit
 * (json-depth.ts), so `JSON.parse` here meets at most 64 levels; the walk itself is linear at any depth.
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
        const { path } = findUnstorable(body);
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

/** What {@link findUnstorable} found, and how much work it took. */
export interface UnstorableScan {
  /** The dotted path of the first string (or key) that cannot be stored (`''` for the body itself), or null. */
  path: string | null;
  /** Values and keys visited plus path segments written: linear in the size of the value. */
  steps: number;
}

/** A value still to visit, linked to its parent so the path is built only when something is found. */
interface Pending {
  value: unknown;
  /** Set for a key still to check (then `value` is unused). */
  key?: string;
  segment: string | number | null;
  parent: Pending | null;
}

/**
 * Finds the first string or key (in document order) that cannot be stored. Iterative, with each
 * pending value linked to its parent instead of carrying a copy of its path: the work is linear in
 * the size of the value at any depth (copying the path per level made deep values quadratic), and
 * no depth can overflow the call stack.
 */
export function findUnstorable(root: unknown): UnstorableScan {
  let steps = 0;
  const stack: Pending[] = [{ value: root, segment: null, parent: null }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    steps++;
    if (item.key !== undefined) {
      if (!isStorableText(item.key)) return pathOf(item, steps);
      continue;
    }
    const { value } = item;
    if (typeof value === 'string') {
      if (!isStorableText(value)) return pathOf(item, steps);
    } else if (Array.isArray(value)) {
      // Pushed last to first, so they are visited first to last.
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], segment: i, parent: item });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        stack.push({ value: v, segment: k, parent: item });
        // A key is checked before its value; an unstorable key is named escaped, as JSON wrote it.
        stack.push({ value: undefined, key: k, segment: JSON.stringify(k).slice(1, -1), parent: item });
      }
    }
  }
  return { path: null, steps };
}

function pathOf(found: Pending, steps: number): UnstorableScan {
  const segments: Array<string | number> = [];
  for (let at: Pending | null = found; at !== null; at = at.parent) if (at.segment !== null) segments.push(at.segment);
  return { path: segments.reverse().join('.'), steps: steps + segments.length };
}
