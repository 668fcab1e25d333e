/** The origin relative paths are resolved against; any other origin after resolution is a refusal. */
const BASE = 'http://casebridge.invalid';

/**
 * Where to send the user after sign-in: only a same-origin relative path (`/cases?x=1`), never
 * an absolute URL, a protocol-relative `//host`, a backslash trick or a control character — so
 * the sign-in flow cannot be used as an open redirect.
 *
 * The decision is made on the path as a browser will resolve it, not on the text given: dot
 * segments (`/..//evil`, `/a/..//evil`, `/%2e%2e//evil`) collapse into `//evil` only after
 * resolution, so a check of the raw text's prefix is not enough. The returned value is the
 * resolved path itself, so what was checked is exactly what the Location header carries.
 */
export function safeReturnTo(value: string | null | undefined): string {
  if (!value || value.length > 2048) return '/';
  if (!value.startsWith('/')) return '/';
  // Backslashes are slashes to a browser; control characters (tab, CR, LF) are dropped by the URL
  // parser, so `/\t/evil` would become `//evil`. Nothing legitimate needs either.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return '/';
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return '/';
  }
  if (url.origin !== BASE) return '/';
  // An encoded slash or backslash is not decoded by browsers, but proxies and other servers may:
  // refuse a resolved path that would start with two slashes either way.
  const path = url.pathname.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  if (/^\/[/\\]/.test(path)) return '/';
  const result = `${url.pathname}${url.search}${url.hash}`;
  // The result must resolve to our origin however it is read back (belt and braces).
  return new URL(result, BASE).origin === BASE ? result : '/';
}
