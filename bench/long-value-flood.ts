import type { ResultRow } from '../scorer/types';

// What a local user writes into every column they decide: rows of their own processes run from
// directories of long new names with argument lists of long new words, their shell history of
// such lines, their connections from such programs and the files they write under such
// directories. Every value is new and about `length` characters, so every store keyed by a value
// (rarity's counts, the windows' and the extractor's shared copies, the process table, the
// template miner) receives one long key a row: what one account can do to the extension's
// memory without any privilege (memcap).

const START = 1_790_000_000;
const QUERY = 'pack_hids_';

/** a seeded stream of letters g–z: no digit or hex run a mask would turn into a wildcard */
function letters(seed: number): (n: number) => string {
  let s = seed >>> 0 || 1;
  // one flat string from an array of codes: built by `+=`, each would be a rope of n pieces
  // (~30 kB for 900 letters) until first read, and a flood held in memory ten times its size
  return (n) => {
    const codes = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      codes[i] = 103 + ((s >>> 16) % 20);
    }
    return String.fromCharCode(...codes);
  };
}

export interface FloodOptions {
  uid?: string;
  username?: string;
  host?: string;
  /** characters of each long name */
  length?: number;
  /** first row's time (s) and seconds between rows */
  start?: number;
  spacing?: number;
  seed?: number;
  /** the index of the first row: a stream made in parts goes on where the last part ended (its times, pids and kinds) */
  from?: number;
}

/** `n` rows of the flood, in runs of `run` rows of one kind: five runs in eight of process rows, the other kinds in turn */
export function floodRows(n: number, opts: FloodOptions = {}, run = 20): ResultRow[] {
  const { uid = '1003', username = 'eve', host = 'web-01', length = 900, start = START, spacing = 8, seed = 1, from = 0 } = opts;
  const word = letters(seed + from);
  const home = `/home/${username}`;
  const rows: ResultRow[] = [];
  for (let i = from; i < from + n; i++) {
    const time = start + i * spacing;
    const dir = `${home}/${word(length)}`;
    const exe = `${dir}/${word(Math.max(8, length >> 3))}`;
    const line = `${exe.split('/').pop()} ${word(length)} ${word(length)} ${word(length)} ${word(length)}`;
    const pid = String(20000 + i);
    const row = (query: string, columns: Record<string, string>): ResultRow => ({
      query: QUERY + query,
      host,
      time,
      action: 'added',
      decorations: {},
      columns,
    });
    switch (Math.floor(i / run) % 8) {
      case 1:
        rows.push(
          row('socket_events', {
            pid,
            path: exe,
            action: 'connect',
            remote_address: '10.0.0.5',
            remote_port: '8080',
            local_port: '40000',
            family: '2',
            protocol: '6',
            auid: uid,
          }),
        );
        break;
      case 3:
        rows.push(row('shell_history', { uid, username, command: line, time: String(time), history_file: `${home}/.bash_history` }));
        break;
      case 5:
        rows.push(row('file_events', { target_path: `${dir}/${word(length)}`, action: 'CREATED', category: 'home', time: String(time), md5: '', inode: pid }));
        break;
      default:
        rows.push(row('process_events', { pid, parent: '900', path: exe, cmdline: line, cwd: dir, uid, euid: uid, auid: uid, time: String(time) }));
    }
  }
  return rows;
}

/** the flood as osqueryd result lines, `perLine` rows of one query a line (its event format's batches) */
export function floodLines(n: number, perLine = 20, opts: FloodOptions = {}): string[] {
  const rows = floodRows(n, opts, perLine);
  const lines: string[] = [];
  for (let from = 0; from < rows.length;) {
    const query = rows[from].query;
    let to = from;
    while (to < rows.length && to - from < perLine && rows[to].query === query) to++;
    const batch = rows.slice(from, to);
    lines.push(
      JSON.stringify({
        name: query,
        hostIdentifier: batch[0].host,
        unixTime: batch[batch.length - 1].time,
        epoch: 0,
        counter: lines.length,
        numerics: false,
        decorations: {},
        diffResults: { removed: [], added: batch.map((r) => r.columns) },
      }),
    );
    from = to;
  }
  return lines;
}
