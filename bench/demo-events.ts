import { DEMO_USERS, generateDemo } from '../demo/generate';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import { parseResultLine } from '../scorer/parse/results';
import type { BehaviourEvent } from '../scorer/types';

/** one demo user's 14 days of events, as the product extracts them: the scoring benchmarks' stream */
export function demoEvents(): BehaviourEvent[] {
  const stream = generateDemo({ seed: 2, days: 14, start: 1_790_000_000 - (1_790_000_000 % 86400), host: 'web-01', attacks: false });
  const users = new UidMap();
  users.update(DEMO_USERS);
  const x = new FeatureExtractor({ users, overrides: {} });
  const events: BehaviourEvent[] = [];
  for (const line of stream.lines)
    for (const row of parseResultLine(line)) {
      const e = x.extract(row);
      if (e.subject === 'bob') events.push(e.event);
    }
  return events;
}
