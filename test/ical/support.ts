import ical, { type CalendarResponse, type VEvent } from 'node-ical';

/**
 * Reading feeds back for tests, independently of the code under test: node-ical parses, and a small
 * RFC 5545 reader (unfold, split name/params/value, unescape TEXT left to right) checks what
 * node-ical gets wrong (its TEXT unescape replaces `\n` before `\\`, so `\\n` comes back as a
 * backslash and a newline, and it strips quotes around a whole value).
 */

/** Physical lines of a body (CRLF separated; the body ends without a final CRLF, as ical-generator writes it). */
export function physicalLines(body: string): string[] {
  return body.split('\r\n');
}

/** Content lines after unfolding (RFC 5545 §3.1: CRLF followed by one space or tab is removed). */
export function contentLines(body: string): string[] {
  return body.replace(/\r\n[ \t]/g, '').split('\r\n');
}

export interface ContentLine {
  name: string;
  params: string;
  value: string;
}

/** Splits a content line at the first colon outside a quoted parameter value. */
export function splitLine(line: string): ContentLine {
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '"') inQuotes = !inQuotes;
    else if (ch === ':' && !inQuotes) {
      const head = line.slice(0, i);
      const semi = head.indexOf(';');
      return {
        name: (semi < 0 ? head : head.slice(0, semi)).toUpperCase(),
        params: semi < 0 ? '' : head.slice(semi + 1),
        value: line.slice(i + 1),
      };
    }
  }
  throw new Error(`not a content line: ${JSON.stringify(line)}`);
}

/** Reverses RFC 5545 TEXT escaping, left to right. */
export function unescapeText(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = value[++i];
    if (next === 'n' || next === 'N') out += '\n';
    else if (next === '\\' || next === ';' || next === ',') out += next;
    else throw new Error(`invalid escape \\${next ?? ''} in ${JSON.stringify(value)}`);
  }
  return out;
}

/** The content lines of each VEVENT, in order. */
export function veventBlocks(body: string): ContentLine[][] {
  const blocks: ContentLine[][] = [];
  let current: ContentLine[] | null = null;
  for (const raw of contentLines(body)) {
    const line = splitLine(raw);
    if (line.name === 'BEGIN' && line.value === 'VEVENT') current = [];
    else if (line.name === 'END' && line.value === 'VEVENT') {
      blocks.push(current!);
      current = null;
    } else if (current) current.push(line);
  }
  return blocks;
}

/** node-ical's reading of a body. */
export function parseFeed(body: string): CalendarResponse {
  return ical.sync.parseICS(body);
}

/** The VEVENTs node-ical found, by UID. */
export function parsedEvents(body: string): Map<string, VEvent> {
  const out = new Map<string, VEvent>();
  for (const c of Object.values(parseFeed(body))) if (c.type === 'VEVENT') out.set(c.uid, c);
  return out;
}

/** Local calendar date of a Date as `YYYY-MM-DD` (node-ical builds DATE values as local midnight). */
export function localDate(d: Date): string {
  return `${String(d.getFullYear()).padStart(4, '0')}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** What a TEXT value becomes after cleaning and escaping: CRLF/CR are newlines, other controls gone. */
export function expectedText(value: string): string {
  return (
    value
      // biome-ignore lint/suspicious/noControlCharactersInRegex: mirrors what the renderer must drop
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
      .replace(/\r\n|\r/g, '\n')
  );
}
