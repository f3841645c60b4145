/**
 * One process per run folder (Node): `lrdif train` holds `<run>/.lock` (its pid, host and start
 * time) while it runs, so a second process on the same folder stops with an error naming the
 * first instead of interleaving its metrics and checkpoints. A lock whose process is gone (a
 * killed run) is taken over with a note.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const LOCK_FILE = '.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>;
    return typeof o.pid === 'number' ? { pid: o.pid, host: String(o.host ?? ''), started: String(o.started ?? ''), command: String(o.command ?? '') } : null;
  } catch {
    return null;
  }
}

/**
 * Checks that `out` can be a run folder before anything is written: no regular file on its path
 * (which Node would report as a bare ENOTDIR), and the folder, if it exists, is a folder.
 */
export function checkOutFolder(out: string, what = '--out'): void {
  let p = path.resolve(out);
  for (;;) {
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(p);
    } catch {
      // does not exist yet: look at its parent
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new Error(
          p === path.resolve(out)
            ? `lrdif: train: ${what} ${out} is a file, not a folder; give a folder for the run`
            : `lrdif: train: ${what} ${out} cannot be made: ${p} is a file, not a folder`,
        );
      }
      return;
    }
    const parent = path.dirname(p);
    if (parent === p) return;
    p = parent;
  }
}

export interface RunLock {
  release(): void;
}

/** Takes the run folder's lock (creating the folder), or throws naming the process that holds it. */
export function acquireRunLock(dir: string, note: (m: string) => void): RunLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          const cur = readLock(file);
          if (cur && cur.pid === mine.pid && cur.host === mine.host) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`lrdif: train: cannot lock the run folder ${dir}: ${(e as Error).message}`);
    }
    const other = readLock(file);
    if (other && other.host === mine.host && other.pid !== mine.pid && alive(other.pid)) {
      throw new Error(
        `lrdif: train: ${dir} is in use by another lrdif process (pid ${other.pid}, started ${other.started}${other.command ? `: ${other.command}` : ''}); ` +
          `wait for it to finish, or give another --out`,
      );
    }
    if (other && other.host !== mine.host) {
      throw new Error(
        `lrdif: train: ${dir} is locked by a process on host ${other.host} (pid ${other.pid}, started ${other.started}); if no run is using the folder, delete ${file}`,
      );
    }
    note(`lrdif: train: taking over the stale lock of ${dir} (${other ? `pid ${other.pid}, started ${other.started}, is no longer running` : 'unreadable lock file'})`);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`lrdif: train: could not lock ${dir} (another process keeps taking it)`);
}
