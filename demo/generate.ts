// A realistic multi-user, multi-day osquery result stream for one Linux host, in exactly the
// format osqueryd's filesystem logger writes (event format; snapshot lines for snapshot
// queries), with the query names of packs/user-behavior.conf. Three users have distinct
// habits: alice the admin, bob the developer, svc-backup the service account; the host's
// daemons make up the rest. On the last day a handful of attack stories are woven in. They
// carry no marker: the product finds them only because they are rare for that user.

import { attackStories } from './attacks';
import { DAY, DemoHost, UNSET_AUID } from './host';
import { aliceDay } from './personas/alice';
import { backupDay } from './personas/backup';
import { bobDay } from './personas/bob';
import { daemonListeners, daemonsDay } from './personas/daemons';
import { DEMO_USERS } from './personas/users';

export { DEMO_USERS } from './personas/users';
export { seededRandom } from './random';

export interface DemoOptions {
  seed: number;
  days: number;
  /** unixTime of the first day's midnight (UTC) */
  start: number;
  host: string;
  attacks: boolean;
}

export interface AttackStory {
  name: string;
  user: string;
  description: string;
  from: number;
  to: number;
  /** indexes into `lines` of the rows that belong to the story */
  lines: number[];
}

export interface DemoStream {
  lines: string[];
  stories: AttackStory[];
}

const PACK = 'pack_user-behavior_';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** osquery's calendarTime: "Sat Nov 21 09:15:02 2026 UTC" */
export function calendarTime(t: number): string {
  const d = new Date(t * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${WEEKDAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()} UTC`;
}

/** each day, each persona in a fixed order (the stream depends on the order of random draws) */
export function generateDemo(opts: DemoOptions): DemoStream {
  const h = new DemoHost(opts.seed, opts.start);
  daemonListeners(h, opts.start + 60);
  for (let day = 0; day < opts.days; day++) {
    const base = opts.start + day * DAY;
    const weekday = ![0, 6].includes(new Date(base * 1000).getUTCDay());
    daemonsDay(h, base);
    backupDay(h, base);
    aliceDay(h, base, weekday);
    bobDay(h, base, weekday);
    if (opts.attacks && day === opts.days - 1) attackStories(h, base);
  }
  return serialise(h, opts.host);
}

/** rows in time order as osqueryd's filesystem logger lines, and where each story's rows are */
function serialise(h: DemoHost, host: string): DemoStream {
  const rows = h.rows;
  let counter = 0;
  rows.sort((a, b) => a.time - b.time);
  const lines: string[] = [];
  const storyLines = new Map<string, number[]>();
  const decorations = { host_uuid: '6f1c2a9e-0b7d-4c55-9a1e-2d6f8e0c4b11' };
  for (const row of rows) {
    counter++;
    const head = {
      name: `${PACK}${row.query}`,
      hostIdentifier: host,
      calendarTime: calendarTime(row.time),
      unixTime: row.time,
      epoch: 0,
      counter,
      numerics: false,
      decorations,
    };
    // snapshot queries log one line per run with all rows; this stream has one row per run
    const line =
      row.action === 'snapshot'
        ? JSON.stringify({ snapshot: [row.columns], action: 'snapshot', ...head })
        : JSON.stringify({ ...head, columns: row.columns, action: row.action });
    if (row.story) (storyLines.get(row.story) ?? storyLines.set(row.story, []).get(row.story)!).push(lines.length);
    lines.push(line);
  }
  const stories: AttackStory[] = [...storyLines].map(([name, idx]) => {
    const times = idx.map((i) => JSON.parse(lines[i]).unixTime as number);
    // the story's user: the login user most of its rows carry
    const auids = idx.map((i) => JSON.parse(lines[i]).columns?.auid).filter((a) => a && a !== UNSET_AUID);
    const auid = auids.sort((a, b) => auids.filter((x) => x === b).length - auids.filter((x) => x === a).length)[0];
    return {
      name,
      user: DEMO_USERS.find((u) => u.uid === auid)?.username ?? 'host',
      description: name,
      from: Math.min(...times),
      to: Math.max(...times),
      lines: idx,
    };
  });
  return { lines, stories };
}

/**
 * The stream as an `anomaly eval` pair: train is every day but the last, unlabelled; test is
 * the last day (where the stories are), every line labelled `normal` or `anomalous`.
 */
export function evaluationSplit(stream: DemoStream): { train: string[]; test: string[] } {
  const times = stream.lines.map((l) => (JSON.parse(l) as { unixTime: number }).unixTime);
  const lastDay = Math.floor(times[times.length - 1] / DAY) * DAY;
  const attack = new Set(stream.stories.flatMap((s) => s.lines));
  const train: string[] = [];
  const test: string[] = [];
  stream.lines.forEach((line, i) => {
    if (times[i] < lastDay) train.push(line);
    else test.push(`${line.slice(0, -1)},"label":"${attack.has(i) ? 'anomalous' : 'normal'}"}`);
  });
  return { train, test };
}
