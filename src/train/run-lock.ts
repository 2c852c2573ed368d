/**
 * One writer per run folder: `mrn train` (and {@link trainMrn} with an `outDir`) holds a lock
 * file `OUT/.mrn-lock` naming its pid, host and start time while it writes there. A second run on the
 * same folder is refused with `E_RUN_LOCKED` naming the holder; a lock left by a process that no
 * longer exists (SIGKILL, OOM killer, power loss) is detected and taken over.
 *
 * The lock is created atomically with its content (written to a temporary file, then hard-linked to
 * the lock name, which fails if the name exists), so no reader ever sees a half-written lock. Liveness
 * is decided on the same host only: the pid must exist and, on Linux, have the same process start
 * time as recorded (a recycled pid is not mistaken for the holder). A lock from another host is never
 * taken over automatically (its process cannot be checked from here): remove it by hand.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MrnError } from '../errors.js';
import { fsyncDir, writeFileDurable, temporaryName } from '../io/atomic-write.js';

/** The name of the lock file inside a run folder. */
export const RUN_LOCK_FILE = '.mrn-lock';

/** What a lock file records about its holder. */
export interface RunLockHolder {
  /** Process id. */
  pid: number;
  /** Host name (liveness is only checked on the same host). */
  host: string;
  /** Process start time in clock ticks since boot (Linux `/proc/<pid>/stat`), when known. */
  startTicks?: number;
  /** ISO time the lock was taken. */
  since: string;
  /** What holds it (e.g. `mrn train`). */
  command?: string;
}

/** A held lock. */
export interface RunLock {
  /** The lock file. */
  readonly file: string;
  /** The holder record written into it. */
  readonly holder: RunLockHolder;
  /** Whether a stale lock of a dead process was taken over (and whose). */
  readonly tookOverFrom?: RunLockHolder;
  /** Removes the lock (only if it is still ours). Idempotent. */
  release(): void;
}

/** Process start time of `pid` in clock ticks since boot (Linux), or undefined where unknown. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** True when `holder` is a live process on this host (same pid and, where known, same start time). */
export function isHolderAlive(holder: RunLockHolder): boolean {
  if (holder.host !== os.hostname()) return true; // cannot check another host: assume alive
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  if (holder.startTicks !== undefined) {
    const now = processStartTicks(holder.pid);
    if (now !== undefined && now !== holder.startTicks) return false; // the pid was recycled
  }
  return true;
}

function readHolder(file: string): RunLockHolder | undefined {
  try {
    const h = JSON.parse(fs.readFileSync(file, 'utf8')) as RunLockHolder;
    if (Number.isSafeInteger(h?.pid) && typeof h.host === 'string') return h;
  } catch {
    // unreadable: handled by the caller
  }
  return undefined;
}

function lockedBy(dir: string, file: string, holder: RunLockHolder): MrnError {
  return new MrnError(
    'E_RUN_LOCKED',
    `run folder ${dir} is in use by pid ${holder.pid} on ${holder.host} (${holder.command ?? 'mrn'}, since ${holder.since}); wait for it, stop it, or use another --out`,
    { file, details: { holder } },
  );
}

/**
 * Fails fast when run folder `dir` is held by a live process, without taking the lock: a command
 * calls it before minutes of data loading, then {@link acquireRunLock} when it starts writing.
 *
 * @throws MrnError `E_RUN_LOCKED` naming the holder's pid and host.
 */
export function assertRunFolderFree(dir: string): void {
  const file = path.join(dir, RUN_LOCK_FILE);
  if (!fs.existsSync(file)) return;
  const holder = readHolder(file);
  if (holder && isHolderAlive(holder)) throw lockedBy(dir, file, holder);
}

/**
 * Takes the lock of run folder `dir` (created if needed).
 *
 * @throws MrnError `E_RUN_LOCKED` naming the holder's pid and host when another live process holds
 *   it (or its lock file is unreadable); `E_IO` when the lock cannot be written.
 */
export function acquireRunLock(dir: string, options: { command?: string } = {}): RunLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, RUN_LOCK_FILE);
  const holder: RunLockHolder = {
    pid: process.pid,
    host: os.hostname(),
    startTicks: processStartTicks(process.pid),
    since: new Date().toISOString(),
    ...(options.command ? { command: options.command } : {}),
  };
  const tmp = temporaryName(file);
  writeFileDurable(tmp, `${JSON.stringify(holder)}\n`);
  let tookOverFrom: RunLockHolder | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file); // atomic: fails with EEXIST while a lock exists
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new MrnError('E_IO', `cannot create the run lock: ${(e as Error).message}`, {
            file,
            cause: e,
          });
        }
      }
      const current = readHolder(file);
      if (!current) {
        throw new MrnError(
          'E_RUN_LOCKED',
          `run folder ${dir} is locked by an unreadable lock file; if no mrn process uses it, delete ${file}`,
          { file },
        );
      }
      if (isHolderAlive(current) || attempt >= 3) throw lockedBy(dir, file, current);
      // A dead holder: move its lock aside (atomic; only one contender succeeds) and retry.
      const stale = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, stale);
        const moved = readHolder(stale);
        fs.rmSync(stale, { force: true });
        if (moved && moved.pid === current.pid) tookOverFrom = current;
      } catch {
        // another process moved it first; retry
      }
    }
    fsyncDir(dir);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  let released = false;
  return {
    file,
    holder,
    tookOverFrom,
    release() {
      if (released) return;
      released = true;
      const current = readHolder(file);
      if (current && current.pid === holder.pid && current.since === holder.since)
        fs.rmSync(file, { force: true });
    },
  };
}
