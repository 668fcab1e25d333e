import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * An exclusive lock on an embedded (PGlite) data directory. PGlite has no shared-memory or
 * postmaster.pid protection: two processes that open one directory each keep their own copy of the
 * database in memory and overwrite each other's files, so rows one of them committed silently
 * disappear. The first process to open the directory writes `casebridge.lock` (holder's pid, host,
 * command and start time); every other process is refused with `DataDirLockedError` before it opens
 * the database. A lock left by a process that died (same host, pid gone or reused since) is taken
 * over. PostgreSQL needs none of this and takes no lock.
 *
 * The file appears atomically with its content (written to a private file, then hard-linked into
 * place, which fails when the name exists), so a reader never sees a half-written lock.
 */

/** The lock file's name inside the data directory. */
export const LOCK_FILE = 'casebridge.lock';

/** Who holds a data directory, as written into the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The command's words (never its option values, which may be e-mails or URLs). */
  command: string;
  startedAt: string;
  /** Linux boot id and process start tick, to tell a dead holder from a new process with its pid. */
  bootId?: string;
  processStart?: string;
  /** Random value identifying this acquisition (release removes only its own lock). */
  token: string;
}

/** The data directory is in use by another live process. The message says who and what to do. */
export class DataDirLockedError extends Error {
  readonly code = 'data_dir_locked';
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    const who = holder
      ? `process ${holder.pid} on host ${holder.host} ("${holder.command}", started ${holder.startedAt})`
      : 'another process (its lock file cannot be read)';
    super(
      `The embedded database in ${dataDir} is in use by ${who}.\n` +
        "Two processes on one embedded database lose each other's writes, so this one did not open it, and a running service would not see what it wrote. Either:\n" +
        "  - use the running service's API instead (for example POST /v1/admin/api-keys, PATCH /v1/admin/sign-in-policy, PUT /v1/admin/saml), or\n" +
        '  - stop that process and run this again, or\n' +
        '  - run every process against PostgreSQL: set DATABASE_URL=postgres://… (no lock is needed there).\n' +
        `If no such process exists any more, delete ${path.join(dataDir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

/** A held lock. `release()` is idempotent and removes the file only while it is still ours. */
export interface DataDirLock {
  readonly file: string;
  readonly holder: LockHolder;
  release(): void;
}

function readLinuxFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), Linux only. */
function processStartTick(pid: number): string | undefined {
  const stat = readLinuxFile(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may contain spaces: count after its end.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** The command's leading words: `bin/casebridge.mjs org create`, `src/main.ts api`. */
export function describeCommand(argv: string[] = process.argv): string {
  const script = argv[1] ?? argv[0] ?? 'node';
  const relative = path.relative(process.cwd(), script);
  const words = [relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.basename(script)];
  for (const word of argv.slice(2)) {
    if (word.startsWith('-') || words.length >= 4) break;
    words.push(word);
  }
  return words.join(' ').slice(0, 200);
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.token !== 'string') return null;
    return value as LockHolder;
  } catch {
    return null;
  }
}

/**
 * Whether the holder is certainly gone: it ran on this host and its pid is dead, or the pid now
 * belongs to a process started later (pid reuse), or the machine has rebooted since. A holder on
 * another host (a shared volume) is never presumed dead.
 */
export function holderIsDead(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return false;
  const bootId = readLinuxFile('/proc/sys/kernel/random/boot_id');
  if (holder.bootId && bootId && holder.bootId !== bootId) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const start = processStartTick(holder.pid);
  return Boolean(holder.processStart && start && holder.processStart !== start);
}

/**
 * Takes the lock on `dataDir` (created when missing) or throws DataDirLockedError naming the live
 * holder. A dead holder's lock is replaced; when two processes race for it, exactly one wins.
 */
export function acquireDataDirLock(dataDir: string, options: { command?: string } = {}): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const bootId = readLinuxFile('/proc/sys/kernel/random/boot_id');
  const processStart = processStartTick(process.pid);
  const holder: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    command: options.command ?? describeCommand(),
    startedAt: new Date().toISOString(),
    ...(bootId ? { bootId } : {}),
    ...(processStart ? { processStart } : {}),
    token: randomBytes(16).toString('hex'),
  };
  const draft = path.join(dataDir, `${LOCK_FILE}.${process.pid}.${holder.token}`);
  fs.writeFileSync(draft, `${JSON.stringify(holder, null, 2)}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(draft, file);
        return heldLock(file, holder);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
        throw err;
      }
      const current = parseHolder(text);
      if (!current || !holderIsDead(current)) throw new DataDirLockedError(dataDir, current);
      removeIfStillHeldBy(file, current);
    }
    throw new DataDirLockedError(dataDir, parseHolder(safeRead(file) ?? ''));
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

function safeRead(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Removes a dead holder's lock, but not a live one that replaced it meanwhile: the file is moved to
 * a private name first (atomic; only one contender succeeds) and moved back when it turns out not
 * to be the dead holder's.
 */
function removeIfStillHeldBy(file: string, dead: LockHolder): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = parseHolder(safeRead(aside) ?? '');
  if (moved && moved.token !== dead.token) {
    // Another process took the lock between our read and our rename: put it back (link fails if a
    // third one has the name by now, in which case that one's lock stands and ours goes away).
    try {
      fs.linkSync(aside, file);
    } catch {
      // the name is taken again; the next attempt reads whoever holds it
    }
  }
  fs.rmSync(aside, { force: true });
}

function heldLock(file: string, holder: LockHolder): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const current = parseHolder(safeRead(file) ?? '');
    if (current?.token === holder.token) fs.rmSync(file, { force: true });
  };
  // A process that exits without closing its database (an uncaught error) still frees the directory.
  process.on('exit', release);
  return { file, holder, release };
}
