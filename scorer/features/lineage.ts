import { baseName, isDownloader } from './security';

// What each host's processes are and who started them, from the process rows seen so far:
// resolves a socket's pid to its executable, a process's parent when the row names only a
// pid, and a shell's lineage (is one of its ancestors a network-facing service or a
// downloader?). Learning (`learn*`) and asking are separate, so the side-effect-free match
// path of the extractor can ask without changing anything.

const MAX_PIDS = 20_000;
const MAX_LISTENERS = 2_000;
/** ancestors walked at most: a web shell is a few steps below its server */
const MAX_DEPTH = 6;

interface Proc {
  exe: string;
  ppid: string;
}

export class ProcessTable {
  private readonly procs = new Map<string, Proc>();
  /** executables seen listening on a port, per host */
  private readonly listeners = new Set<string>();

  learnProcess(host: string, pid: string | undefined, ppid: string | undefined, exe: string): void {
    if (!pid || !exe) return;
    const key = `${host}:${pid}`;
    if (this.procs.size >= MAX_PIDS && !this.procs.has(key)) this.procs.delete(this.procs.keys().next().value as string);
    this.procs.delete(key);
    this.procs.set(key, { exe, ppid: ppid ?? '' });
  }

  learnListener(host: string, exe: string): void {
    if (!exe || exe === 'unknown' || this.listeners.size >= MAX_LISTENERS) return;
    this.listeners.add(`${host}:${exe}`);
  }

  exeOf(host: string, pid: string | undefined): string | undefined {
    return pid ? this.procs.get(`${host}:${pid}`)?.exe : undefined;
  }

  /**
   * The nearest ancestor that faces the network: `service:<name>` (it listens on a port),
   * `downloader:<name>`, or `none`. The direct parent may come from the row itself.
   */
  lineage(host: string, ppid: string | undefined, parentExe: string): string {
    let exe = parentExe;
    let pid = ppid;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      if (exe && exe !== 'unknown') {
        if (this.listeners.has(`${host}:${exe}`)) return `service:${baseName(exe)}`;
        if (isDownloader(exe)) return `downloader:${baseName(exe)}`;
      }
      const p = pid ? this.procs.get(`${host}:${pid}`) : undefined;
      if (!p || !p.ppid || p.ppid === pid) break;
      pid = p.ppid;
      exe = this.procs.get(`${host}:${pid}`)?.exe ?? '';
    }
    return 'none';
  }
}
