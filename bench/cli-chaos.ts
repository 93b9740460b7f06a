import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { rng } from './chaos';
import { SCORING_RUN, TRAINING_RUN } from '../cli/run-journal';
import { bareNode } from '../test/helpers/bare-node';
import { eventsLearnt, idsOf as ids, killedRunFixture, retainedIds } from '../test/helpers/cli-state';
import { DIST, WORKSTATION_EXPORT } from '../test/helpers/paths';

// `anomaly score` killed at random moments (chaos3). test/cli-killed.test.ts kills it at four
// chosen points (a batch retained, a subject saved, the ledger saved); here a seeded delay
// picks the moment, anywhere in the run: in the journal's append, between a batch's score and
// its retention, mid-way through the final saves, in the resumed run too. After each kill the
// command is run again (itself killed, a seeded share of the time), then once to its end, and
// the state must be what one whole run leaves: every row learnt once by the subjects (the
// sum of their events), retained once, in the ledger, shown once in the log's order, and no
// journal left.
//
//   node dist/bench/cli-chaos.js [--seeds A-B] [--resume-kills SHARE (0.3)] [--command score|train]
//
// `--command train` does the same with `anomaly train` of those logs into a new state (the
// ledger `trained-runs`; nothing retained or shown; its last run may find every row learnt
// already, exit 65, when a kill landed after the ledger's save).
//
// Exit 0 when every seed held, 1 when one did not. Heavy: run it under `nice -n 10`.

const CLI = path.join(DIST, 'cli', 'main.js');

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? undefined : args[i + 1];
}

function run(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(...bareNode([CLI, ...args]), { encoding: 'utf8', env: { ...process.env, ANOMALY_CONFIG: '' }, maxBuffer: 1 << 28 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** the command, SIGKILLed after `ms` (if it has not ended by then): whether the kill landed */
function killedAfter(args: string[], ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(...bareNode([CLI, ...args]), { stdio: 'ignore', env: { ...process.env, ANOMALY_CONFIG: '' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

async function main(args: string[]) {
  const [a, b] = (option(args, 'seeds') ?? '1-10').split('-').map(Number);
  const resumeKills = Number(option(args, 'resume-kills') ?? 0.3);
  const command = option(args, 'command') ?? 'score';
  if (command !== 'score' && command !== 'train') throw new Error(`--command score or train, not ${command}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-cli-chaos-'));
  const cleanUp = () => fs.rmSync(dir, { recursive: true, force: true });
  process.on('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  try {
    // as test/cli-killed.test.ts: one subject resident (every other saved as the next one's rows come), two batches
    const { cfg, log, rows } = killedRunFixture(dir);
    // (score needs a state that monitors; train begins from nothing)
    const trained = path.join(dir, 'trained');
    fs.mkdirSync(trained);
    if (command === 'score') {
      const t = run(['train', '--log', WORKSTATION_EXPORT, '--state', trained, '--config', cfg, '--quiet']);
      if (t.code !== 0) throw new Error(`train: ${t.err}`);
    }
    const score = (state: string) => [command, '--log', log, '--state', state, '--config', cfg, '--quiet'];
    const shownBy = (state: string) => (command === 'score' ? [...score(state), '--format', 'json'] : score(state));
    const whole = path.join(dir, 'whole');
    fs.cpSync(trained, whole, { recursive: true });
    const began = Date.now();
    const once = run(shownBy(whole));
    const took = Date.now() - began;
    if (once.code !== 0) throw new Error(`${command}: ${once.err}`);
    const learnt = eventsLearnt(whole);
    const shown = command === 'score' ? ids(once.out) : [];
    console.log(`a whole run: ${rows} rows, ${learnt} events learnt, ${took} ms`);
    let failed = 0;
    for (let seed = a; seed <= (b ?? a); seed++) {
      const random = rng(seed);
      const state = path.join(dir, `seed-${seed}`);
      fs.cpSync(trained, state, { recursive: true });
      const kills: string[] = [];
      // (the first 300 ms load node and the state: a kill there is a kill before anything)
      let ms = 300 + Math.floor(random() * took * 1.2);
      while ((await killedAfter(score(state), ms)) && kills.length < 4) {
        kills.push(`${ms} ms`);
        if (random() >= resumeKills) break;
        ms = 300 + Math.floor(random() * took * 1.2);
      }
      const again = run(shownBy(state));
      const problems: string[] = [];
      // (train of rows all learnt says so: exit 65, when a kill landed after its ledger was saved)
      if (again.code !== 0 && !(command === 'train' && again.code === 65 && /already learned/.test(again.err)))
        problems.push(`the last run: exit ${again.code}: ${again.err.trim().split('\n').pop()}`);
      const events = eventsLearnt(state);
      if (events !== learnt) problems.push(`the subjects learnt ${events} events, a whole run ${learnt}`);
      if (command === 'score') {
        const kept = retainedIds(state);
        if (kept.length !== rows || new Set(kept).size !== rows) problems.push(`${kept.length} rows retained, ${new Set(kept).size} distinct, of ${rows}`);
        const out = ids(again.out);
        if (out.join() !== shown.join()) problems.push(`${out.length} rows shown (${new Set(out).size} distinct), a whole run ${shown.length}`);
      }
      const ledger = fs
        .readFileSync(path.join(state, command === 'score' ? 'scored-runs' : 'trained-runs'), 'utf8')
        .trim()
        .split('\n').length;
      if (ledger !== rows) problems.push(`${ledger} rows in the ledger, of ${rows}`);
      if (fs.existsSync(path.join(state, command === 'score' ? SCORING_RUN : TRAINING_RUN))) problems.push('its journal is left');
      const copies = fs.readdirSync(state, { recursive: true }).filter((f) => String(f).endsWith('.tmp'));
      if (copies.length) problems.push(`copies left by a killed save: ${copies.join(', ')}`);
      console.log(
        `seed ${seed}: killed ${kills.length ? `after ${kills.join(', then ')}` : 'never (it ended first)'}: ${problems.length ? 'VIOLATED' : 'held'}`,
      );
      for (const p of problems) console.log(`  - ${p}`);
      if (problems.length) failed++;
      fs.rmSync(state, { recursive: true, force: true });
    }
    process.exitCode = failed ? 1 : 0;
  } finally {
    cleanUp();
  }
}

if (require.main === module) void main(process.argv.slice(2));
