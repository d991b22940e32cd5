/**
 * CPU time and resident memory of a process, read from /proc (Linux): what the benchmarks charge
 * to the server under test, whatever the load generator costs.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** One reading of a process. */
export interface ProcSample {
  /** User plus system CPU time so far, in milliseconds (10 ms resolution). */
  readonly cpuMs: number;
  /** Resident set size now, in KiB (VmRSS). */
  readonly rssKiB: number;
}

/**
 * Reads the CPU time (user + system, all threads) and the resident set size of `pid`. Throws
 * when the process does not exist.
 */
export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) are at offsets 11 and 12 after the state field (field 3).
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return { cpuMs: (ticks * 1000) / USER_HZ, rssKiB: rss === null ? 0 : Number(rss[1]) };
}

/** CPU milliseconds `pid` spent between two samples. */
export function cpuBetween(before: ProcSample, after: ProcSample): number {
  return after.cpuMs - before.cpuMs;
}
