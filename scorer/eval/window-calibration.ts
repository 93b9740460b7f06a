import { seededRandom } from '../../demo/generate';
import { WindowScorer } from '../windows';
import type { ScoredEvent } from '../types';

// How well window scores keep the contract on normal behaviour (docs/scoring.md, "Windows"):
// one subject, one event a second from five keys whose shares wander (every 45 s or every
// 10 min), 1-minute windows; fitted on H hours of history, then 6 hours of the same behaviour
// scored. Prints the shares of windows below 0.3 / 0.5 / 0.7 (contract 0.16 % / 1 % / 6.3 %).
//
//   node dist/scorer/eval/window-calibration.js [HOURS_OF_HISTORY]

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const SHARES = [0.5, 0.25, 0.12, 0.08, 0.05];

/** a plausible start (2026-09-21, a whole minute): rows dated before 2001 make no windows */
const T0 = 1_790_000_400;

function stream(r: () => number, from: number, seconds: number, period: number, rate: number, ids: { n: number }): ScoredEvent[] {
  const out: ScoredEvent[] = [];
  let w = SHARES.slice();
  for (let s = 0; s < seconds; s++) {
    if (s % period === 0) w = SHARES.map((x) => x * Math.exp(0.5 * (r() + r() + r() - 1.5)));
    if (r() > rate) continue;
    const total = w.reduce((a, b) => a + b, 0);
    let u = r() * total;
    let k = 0;
    while (k < w.length - 1 && u >= w[k]) u -= w[k++];
    out.push({
      id: `e${ids.n++}`,
      time: from + s,
      host: 'h',
      subject: 's',
      query: 'q',
      action: 'added',
      event: KEYS[k],
      score: 0.9,
      verdict: 'good',
      model: 'rarity',
      reasons: '',
      columns: '{}',
    });
  }
  return out;
}

export function windowCalibration(hours: number): { windows: number; below: Record<'0.3' | '0.5' | '0.7', number>; decidedBy: Record<string, number> } {
  let n = 0;
  const below = { '0.3': 0, '0.5': 0, '0.7': 0 };
  const decidedBy: Record<string, number> = {};
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    for (const period of [45, 600]) {
      for (const rate of [1, 0.3]) {
        const r = seededRandom(seed);
        const ids = { n: 0 };
        const w = new WindowScorer({ seconds: 60, graceSeconds: 10, minEvents: 300, minSeconds: 0, historyRows: 20_000, retrainSeconds: 1e9, stateDir: null });
        w.add(stream(r, T0, hours * 3600, period, rate, ids));
        w.trainAll();
        const scored = [...w.add(stream(r, T0 + hours * 3600, 6 * 3600, period, rate, ids)), ...w.flush()].filter((x) => x.start >= T0 + hours * 3600);
        for (const x of scored) {
          n++;
          const s = x.score ?? 1;
          if (s < 0.3) {
            below['0.3']++;
            decidedBy[x.model] = (decidedBy[x.model] ?? 0) + 1;
          }
          if (s < 0.5) below['0.5']++;
          if (s < 0.7) below['0.7']++;
        }
      }
    }
  }
  return { windows: n, below: { '0.3': below['0.3'] / n, '0.5': below['0.5'] / n, '0.7': below['0.7'] / n }, decidedBy };
}

if (require.main === module) {
  const hours = Number(process.argv[2] ?? 12);
  const r = windowCalibration(hours);
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  process.stdout.write(
    `${r.windows} normal windows after ${hours} h of history: below 0.3 / 0.5 / 0.7: ${pct(r.below['0.3'])} / ${pct(r.below['0.5'])} / ${pct(r.below['0.7'])} (contract 0.16 % / 1 % / 6.3 %); below 0.3 decided by ${JSON.stringify(r.decidedBy)}\n`,
  );
}
