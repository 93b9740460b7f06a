import type { ResultRow } from '../../scorer/types';

/**
 * `users` users on one host, each with a routine of tools of its own and an odd command from
 * /tmp now and then, interleaved in time: each user's rows are 90 s apart, so `rowsPerUser`
 * of them span rowsPerUser × 1.5 minutes of history
 */
export function usersStream(users: number, rowsPerUser: number): ResultRow[] {
  const rows: ResultRow[] = [];
  for (let i = 0; i < rowsPerUser; i++) {
    for (let u = 0; u < users; u++) {
      const tool = i % 37 === 36 ? `/tmp/odd${u}${i}` : `/usr/bin/tool${(u * 3 + ((i * (u + 2)) % 6)) % 11}`;
      rows.push({
        query: 'pack_user-behavior_process_events',
        host: 'h',
        time: 1_790_000_000 + i * 90 + u,
        action: 'added',
        columns: { pid: String(i * users + u), path: tool, cmdline: `${tool.split('/').pop()} -q ${i % 3}`, auid: String(2000 + u), parent: '1' },
        decorations: {},
      });
    }
  }
  return rows;
}
