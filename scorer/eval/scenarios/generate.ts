import { companyWorkday, daemons, nightlyBackup } from './routines';
import { generateHeldout } from './heldout';
import { generateHeldout3 } from './heldout3';
import { generateHeldout4 } from './heldout4';
import { generateHeldout5 } from './heldout5';
import { generateHeldout6 } from './heldout6';
import { companyHost, playStories } from './company';
import { ATTACKS, NOVELTIES, type Story, type StoryInfo } from './stories';
import { DAY, Host, splitLabelled, xorshift } from './world';

// Assembles the company's days and splits them for `anomaly eval`: every day but the last
// two is unlabelled training; the last two are labelled, with the attack stories and the
// benign novelties played on them.

export interface ScenarioOptions {
  seed: number;
  /** days in all, the last two labelled; at least 5 */
  days: number;
  /** midnight UTC of the first day */
  start: number;
  /**
   * which stories: `independent` (stories.ts, the default, the set the scorer has been tuned
   * on), `heldout` (heldout.ts: other attacks, two more hosts, written without the scorer),
   * `heldout3` (heldout3.ts: written blind again once the second set had been tuned against) or
   * `heldout4` (heldout4.ts: a fourth blind set, with a mail server and a Kubernetes node) or
   * `heldout5` (heldout5.ts: a fifth blind set, with a GPU node, a file server and a VPN gateway)
   * or `heldout6` (heldout6.ts: a sixth blind set, with an LDAP/Kerberos server, a Git server and
   * a developer's laptop)
   */
  stories?: 'independent' | 'heldout' | 'heldout3' | 'heldout4' | 'heldout5' | 'heldout6';
  /** held-out set only: the internet's SSH password guesses on the edge host (default: yes) */
  scanners?: boolean;
}

export interface ScenarioSet {
  train: string[];
  test: string[];
  /** per test line: the attack story or benign novelty it belongs to, '' for routine */
  testStory: string[];
  stories: Story[];
  novelties: StoryInfo[];
}

/** hour of the test day each story is played at: attacks at odd and ordinary hours alike */
const STORY_HOURS: Record<string, number> = {
  'reverse-shell': 13,
  'ingress-tool': 14,
  'create-account': 1,
  'cron-persistence': 4,
  'systemd-persistence': 11,
  'authorized-keys': 3,
  exfiltration: 14,
  'indicator-removal': 5,
  'first-compose-up': 10,
  'first-internal-db': 11,
  'new-system-tool': 10,
};

export function generateScenarios(opts: ScenarioOptions): ScenarioSet {
  if (opts.stories === 'heldout') return generateHeldout(opts);
  if (opts.stories === 'heldout3') return generateHeldout3(opts);
  if (opts.stories === 'heldout4') return generateHeldout4(opts);
  if (opts.stories === 'heldout5') return generateHeldout5(opts);
  if (opts.stories === 'heldout6') return generateHeldout6(opts);
  if (opts.days < 5) throw new Error('the scenario set needs at least 5 days');
  const r = xorshift(opts.seed);
  const hosts = new Map<string, Host>((['ci-runner-3', 'pg-main', 'edge-web'] as const).map((name) => [name, companyHost(name, r)]));
  const ci = hosts.get('ci-runner-3')!;
  const pg = hosts.get('pg-main')!;
  const web = hosts.get('edge-web')!;
  const firstTest = opts.days - 2;
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * DAY;
    for (const h of hosts.values()) daemons(h, day, r);
    nightlyBackup(ci, day, r, '/srv/ci');
    nightlyBackup(pg, day, r, '/var/lib/postgresql/15/main');
    companyWorkday(ci, pg, web, day, r);
  }
  playStories([...NOVELTIES, ...ATTACKS], STORY_HOURS, (s) => hosts.get(s.host)!, opts.start + firstTest * DAY, r);
  const split = splitLabelled(hosts.values(), opts.start + firstTest * DAY);
  return { ...split, stories: ATTACKS, novelties: NOVELTIES };
}
