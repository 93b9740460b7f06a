import { seededRandom } from '../../demo/generate';
import { DAY, HOUR, START } from '../../scorer/eval/developer-stream';
import type { SubjectOptions } from '../../scorer/subject';
import type { BehaviourEvent } from '../../scorer/types';

// A developer's routine as a subject's events, for the tests of a state an older build saved
// in another spelling (upgrade-query-names, upgrade-compacted-values): the subject learns it in
// the older spelling, is read back, and scores it in this build's.

/** a subject with rarity and the SVM, monitoring after 400 events over 3 days */
export const UPGRADE_OPTIONS: SubjectOptions = {
  models: ['rarity', 'ocsvm'],
  minEvents: 400,
  minSeconds: 3 * DAY,
  windowEvents: 20_000,
  retrainSeconds: 6 * HOUR,
  contextLength: 4,
  heldOutFraction: 0.3,
  backend: 'none',
};

/** the i-th event of day d: one of five tools run from `parent` at 09:00 + 4 min × i, logged by `query` */
export function developerRoutine(query: string, parent = '/bin/bash', seed = 3): (d: number, i: number) => BehaviourEvent {
  const r = seededRandom(seed);
  const tools = ['git', 'vim', 'make', 'ls', 'curl'];
  return (d, i) => {
    const tool = tools[Math.floor(r() * tools.length)];
    const time = START + d * DAY + 9 * HOUR + i * 240;
    const hour = `hour=${String(Math.floor((time % DAY) / HOUR)).padStart(2, '0')}`;
    return {
      key: `exec /usr/bin/${tool} <- ${parent}`,
      values: [`query=${query}`, 'kind=process', `exe=/usr/bin/${tool}`, hour],
      pairs: [`parent=${parent}>exe=/usr/bin/${tool}`],
      text: `${tool} -v`,
      time,
    };
  };
}
