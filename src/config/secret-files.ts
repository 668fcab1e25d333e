import fs from 'node:fs';
import { SECRET_VARIABLES } from './schema.ts';

/** Files larger than this are not secrets but a mistake (a directory listing, a whole key store). */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Resolves the `<NAME>_FILE` variants of the secret variables: for each secret whose `_FILE`
 * variable is set, reads the file and puts its content under `NAME`, without the final line break
 * editors and `echo` add. Setting both `NAME` and `NAME_FILE` is refused (which one wins would be a
 * guess), as are unreadable, empty and oversized files. Problems name the variable and the reason,
 * never the content.
 */
export function readSecretFiles(env: Record<string, string>): {
  values: Record<string, string>;
  problems: { variable: string; expected: string }[];
} {
  const values = { ...env };
  const problems: { variable: string; expected: string }[] = [];
  for (const name of SECRET_VARIABLES) {
    const fileVariable = `${name}_FILE`;
    const file = env[fileVariable];
    delete values[fileVariable];
    if (file === undefined) continue;
    if (env[name] !== undefined) {
      problems.push({ variable: fileVariable, expected: `set ${name} or ${fileVariable}, not both` });
      continue;
    }
    const content = readSecretFile(file);
    if (typeof content === 'object') {
      problems.push({ variable: fileVariable, expected: content.problem });
      continue;
    }
    values[name] = content;
  }
  return { values, problems };
}

function readSecretFile(file: string): string | { problem: string } {
  let content: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return { problem: 'the path of a file holding the value (this is not a regular file)' };
    if (stat.size > MAX_SECRET_FILE_BYTES) return { problem: `a file of at most ${MAX_SECRET_FILE_BYTES} bytes` };
    content = fs.readFileSync(file);
  } catch (err) {
    // The error code only (ENOENT, EACCES): the message would repeat the path, which is harmless,
    // but the code is what the operator acts on.
    return { problem: `a readable file holding the value (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})` };
  }
  const value = content.toString('utf8').replace(/\r?\n$/, '');
  if (!value) return { problem: 'a file holding the value (the file is empty)' };
  return value;
}
