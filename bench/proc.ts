/**
 * Processes as Linux's /proc lists them: each one's parent and CPU time. For the benchmarks that
 * time a command's whole process tree (bin/lrdif.js runs the command in a child of its own, and
 * tsx's esbuild service is a child too) and for the tests that find the command's process.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  ppid: number;
  /** utime + stime of the process and cutime + cstime of its children already reaped, in clock ticks. */
  ticks: number;
}

/** One process's /proc/<pid>/stat, or null when it has ended (or off Linux). */
export function procStat(pid: number): ProcStat | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** Every live process's stat by pid, or null off Linux. */
export function procStats(): Map<number, ProcStat> | null {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return null;
  }
  const stats = new Map<number, ProcStat>();
  for (const p of pids) {
    const s = procStat(p);
    if (s) stats.set(p, s);
  }
  return stats;
}

/** The pids whose parent is `pid`. */
export function childPids(pid: number): number[] {
  return [...(procStats() ?? [])].filter(([, s]) => s.ppid === pid).map(([p]) => p);
}

/** A process's command line, its arguments joined by spaces ('' when it has ended). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}
