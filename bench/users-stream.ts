import type { ResultRow } from '../scorer/types';

// Many users' process events on one host, each user with a routine of its own (twelve of
// forty tools, a working day's hours): what the memory benchmarks model per subject.

const QUERY = 'pack_user-behavior_process_events';
const START = 1_790_000_000;

export const uidOf = (u: number) => String(2000 + u);

/** user `u`'s first `n` rows, `spacing` s apart */
export function userRows(u: number, n: number, host = 'web-01', spacing = 120): ResultRow[] {
  const tools = Array.from({ length: 12 }, (_, i) => `/usr/bin/tool${(u * 7 + i) % 40}`);
  return Array.from({ length: n }, (_, i) => {
    const exe = tools[(i * 5 + u) % tools.length];
    return {
      query: QUERY,
      host,
      time: START + i * spacing,
      action: 'added' as const,
      decorations: {},
      columns: { pid: String(i), path: exe, cmdline: `${exe.split('/').pop()} -x ${i % 17}`, auid: uidOf(u), parent: '1' },
    };
  });
}

/**
 * `users` users' rows as osqueryd result lines (diffResults, `perLine` rows of one user
 * each, as one run of an evented query logs them), the users interleaved in time order:
 * each user's rows `first` to `each` (a stream that goes on where one of `first` rows ended).
 */
export function usersStream(users: number, each: number, perLine: number, host = 'web-01', first = 0): string[] {
  const spacing = 60;
  const lines: string[] = [];
  for (let from = first; from < each; from += perLine) {
    for (let u = 0; u < users; u++) {
      const rows = userRows(u, Math.min(each, from + perLine), host, spacing).slice(from);
      const unixTime = rows[rows.length - 1].time;
      lines.push(
        JSON.stringify({
          name: QUERY,
          hostIdentifier: host,
          unixTime,
          epoch: 0,
          counter: Math.floor(from / perLine),
          numerics: false,
          decorations: {},
          diffResults: { removed: [], added: rows.map((r) => r.columns) },
        }),
      );
    }
  }
  return lines;
}
