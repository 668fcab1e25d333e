import fs from 'node:fs';

/**
 * CPU time of the PostgreSQL backends this process used, when the server runs on this machine: the
 * backends are the ones node-postgres ran a statement on while counting (their process ids come with
 * each connection), and their CPU time is read from `/proc/<pid>/schedstat` (nanoseconds). Null when
 * the server is elsewhere (or on PGlite, whose work is this process's own CPU time).
 */

let tracking: Set<number> | null = null;
let installed: Promise<void> | null = null;

function install(): Promise<void> {
  installed ??= (async () => {
    const pg = (await import('pg')).default;
    const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
    pg.Client.prototype.query = function (this: { processID?: number }, ...args: unknown[]) {
      if (tracking && typeof this.processID === 'number') tracking.add(this.processID);
      return query.apply(this, args);
    } as typeof pg.Client.prototype.query;
  })();
  return installed;
}

/** CPU nanoseconds of a local PostgreSQL process, or null (not local, not PostgreSQL, gone). */
function cpuNs(pid: number): number | null {
  try {
    if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') return null;
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

/** CPU of every local PostgreSQL process now (the start of a count: backends used later start from here). */
function snapshot(): Map<number, number> {
  const out = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const ns = cpuNs(Number(e));
    if (ns !== null) out.set(Number(e), ns);
  }
  return out;
}

/** Starts counting; `stop()` returns the backends' CPU milliseconds since (null when not measurable). */
export async function countBackendCpu(): Promise<{ stop(): number | null }> {
  await install();
  const used = new Set<number>();
  tracking = used;
  const before = snapshot();
  return {
    stop() {
      if (tracking === used) tracking = null;
      if (!used.size) return null;
      let ns = 0;
      for (const pid of used) {
        const now = cpuNs(pid);
        if (now === null) return null;
        ns += now - (before.get(pid) ?? 0);
      }
      return ns / 1e6;
    },
  };
}

/**
 * CPU milliseconds (every thread) of a local process, e.g. the sandbox's, from `/proc/<pid>/schedstat`;
 * null when it cannot be read (not Linux, gone).
 */
export function processCpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}
