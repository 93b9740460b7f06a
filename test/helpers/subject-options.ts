import type { SubjectOptions } from '../../scorer/subject';
import type { BehaviourEvent } from '../../scorer/types';

export const DAY = 86400;
/** a day's start, for streams of events at working hours */
export const START = 1_790_000_000 - (1_790_000_000 % DAY);

/** a small subject of the batch models: trained after 200 events, a window of 400, a context of 4 */
export const SMALL_SUBJECT: SubjectOptions = {
  models: ['rarity', 'ocsvm'],
  minEvents: 200,
  minSeconds: 0,
  windowEvents: 400,
  retrainSeconds: DAY,
  contextLength: 4,
  heldOutFraction: 0.3,
  backend: 'none',
};

/** `tool` run from a shell at `time`, as the extractor makes a process event */
export function execEvent(tool: string, time: number): BehaviourEvent {
  return {
    key: `exec /usr/bin/${tool} <- /bin/bash`,
    values: ['kind=process', `exe=/usr/bin/${tool}`],
    pairs: [`parent=/bin/bash>exe=/usr/bin/${tool}`],
    text: `${tool} -v`,
    time,
  };
}
