import type { Story, StoryInfo } from './stories';
import { DAY, HOUR, Host, type Account, type LabelledSplit } from './world';

// The company every scenario set plays in: the accounts of its standing hosts, and how a set's
// stories are put on its labelled days. Each set builds its own hosts from these (adding the
// accounts its own routines need) so that the sets share one company, not copies of it.

/** what every story set is generated from: its seed, its length in days and its first day */
export interface StorySetOptions {
  seed: number;
  days: number;
  start: number;
}

/** a story set's logs, its attack stories, and the benign first times it labels normal */
export type StorySet = LabelledSplit & { stories: Story[]; novelties: StoryInfo[] };

const root: Account = { name: 'root', uid: '0', home: '/root' };

const ACCOUNTS = {
  'ci-runner-3': [root, { name: 'dana', uid: '1001', home: '/home/dana' }, { name: 'backup', uid: '998', home: '/var/backups' }],
  'pg-main': [
    root,
    { name: 'omar', uid: '1002', home: '/home/omar' },
    { name: 'postgres', uid: '114', home: '/var/lib/postgresql', service: true },
    { name: 'backup', uid: '998', home: '/var/backups' },
  ],
  'edge-web': [
    root,
    { name: 'ops', uid: '1003', home: '/home/ops' },
    { name: 'www-data', uid: '33', home: '/var/www', service: true },
    { name: 'deploy', uid: '997', home: '/srv/deploy' },
  ],
  'bastion-1': [
    root,
    { name: 'ops', uid: '1003', home: '/home/ops' },
    { name: 'omar', uid: '1002', home: '/home/omar' },
    { name: 'kim', uid: '1005', home: '/home/kim' },
  ],
} satisfies Record<string, Account[]>;

/** one of the company's standing hosts with its accounts (in the order its `users` snapshot lists them), and a set's `extra` after them */
export function companyHost(name: keyof typeof ACCOUNTS, r: () => number, extra: readonly Account[] = []): Host {
  return new Host(
    name,
    [...ACCOUNTS[name], ...extra].map((a) => ({ ...a })),
    r,
  );
}

/**
 * Plays each story on its host at its hour (`hours`, noon when absent) of its labelled day,
 * within half an hour drawn from the set's stream, in the order given.
 */
export function playStories(
  stories: readonly Story[],
  hours: Readonly<Record<string, number>>,
  hostOf: (s: Story) => Host,
  firstLabelledDay: number,
  r: () => number,
): void {
  for (const s of stories) {
    const t = firstLabelledDay + s.day * DAY + (hours[s.id] ?? 12) * HOUR + Math.floor(r() * 1800);
    s.play(hostOf(s), t, r);
  }
}
