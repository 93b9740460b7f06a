import { quoted } from '../quoted';
import { GOOD_FROM } from '../calibration';
import type { WindowEvidence } from '../types';
import { OTHER_SHARE } from './reference';
import type { Reference } from './reference';
import { crowdingKey, furthestPart, mixTerms } from './statistics';

// A scored window's reasons (`anomaly_windows.reasons`): the statistic that decided its score,
// said in the words of what judged it, a subject or its host's window baseline.

/** what judged a window: its name, its key table, its usual behaviour, and whose pace `rate` compares with */
export interface WindowJudge {
  name: string;
  keys: readonly string[];
  reference: Reference;
  paceOf?: string;
}

/**
 * one sentence: what about the window was unusual, in the terms of what judged it (the
 * subject, or its host's window baseline): `windowKeys` are the window's rows' keys in
 * `judge.keys`' ids, `events` its rows counted, `seconds` the window's length
 */
export function windowReasons(
  judge: WindowJudge,
  windowKeys: readonly number[],
  events: number,
  seconds: number,
  decided: WindowEvidence | '',
  score: number,
): string {
  const ref = judge.reference;
  // windows.seconds may be as short as 10 s: not "0 min"
  const length = seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
  const span = `${events} event${events === 1 ? '' : 's'} in ${length}`;
  if (score >= GOOD_FROM || !decided) return `usual for ${judge.name} (${span})`;
  const pct = (x: number) => (x > 0 && x < 0.01 ? `${(x * 100).toFixed(1)} %` : `${Math.round(x * 100)} %`);
  switch (decided) {
    case 'mix': {
      const { part, keys } = furthestPart(windowKeys, ref);
      const named = mixTerms(keys, ref)
        .filter((x) => x.z2 > 0)
        .sort((a, b) => b.z2 - a.z2)
        .slice(0, 2);
      const terms = named.map((x) =>
        x.key === OTHER_SHARE
          ? `${otherKeys(judge, keys, ref)} ${pct(x.share)} (usually ${pct(x.usual)})`
          : `${quoted(judge.keys[x.key])} ${pct(x.share)} (usually ${pct(x.usual)})`,
      );
      // usual keys thin or missing were replaced by something: when it is not keys seldom
      // seen (named above their usual share), it is a usual key far above its share (a burst
      // of one ordinary thing, ssh to host after host), which the distance does not count
      // (one-sided) but a reader needs
      if (!named.some((x) => x.key === OTHER_SHARE && x.share > x.usual)) {
        const crowd = crowdingKey(keys, ref);
        if (crowd) terms.push(`in their place ${quoted(judge.keys[crowd.key])} ${pct(crowd.share)} (usually ${pct(crowd.usual)})`);
      }
      return `unusual mix of events for ${judge.name}${part === 'window' ? '' : ` in the ${part} of the window`}: ${terms.join(', ')} (mix; ${span})`;
    }
    case 'sequence':
      return `events in an order unusual for ${judge.name} (sequence; ${span})`;
    case 'rate':
      return `${events > ref.medianEvents ? 'more' : 'fewer'} events than usual for ${judge.name}: ${events} in ${length}, usually ${ref.medianEvents}${judge.paceOf ? ` ${judge.paceOf}` : ''} (rate; ${span})`;
    case 'peak':
    case 'mean':
      return `${decided === 'peak' ? 'one row' : 'many rows'} unusual for ${judge.name} (${decided} row evidence; ${span})`;
  }
}

/** "keys seldom seen (`shell`, `listen …`)": what the other-keys share is made of */
function otherKeys(judge: { keys: readonly string[] }, keys: readonly number[], ref: Reference): string {
  const usual = new Set(ref.usual.map((u) => u.key));
  const counts = new Map<number, number>();
  for (const k of keys) if (!usual.has(k)) counts.set(k, (counts.get(k) ?? 0) + 1);
  const top = [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k]) => quoted(judge.keys[k]));
  return `keys seldom seen${top.length ? ` (${top.join(', ')})` : ''}`;
}
