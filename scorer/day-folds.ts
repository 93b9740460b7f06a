import type { BehaviourEvent } from './types';

// How a subject's calibration is cross-fitted by days (scorer/subject.ts, train): which fold
// of whole days each event of its history falls in, and which of a fold's events are scored.

const DAY = 86400;
/** folds of days for cross-fitted calibration */
export const CROSS_FIT_FOLDS = 5;
/** most events a cross-fitted calibration scores: beyond it, an even sample of each fold */
const MAX_CALIBRATION = 5000;

/**
 * The fold of each event: its day's rank among the history's days, modulo k, so that every
 * fold holds days from the whole window. null when the history has fewer than k days
 * besides the subject's first day (or no clock): then there is nothing to cross-fit over.
 *
 * When the history starts on the subject's first day (`firstDay`), that day is fold -1: every
 * fold's model learns it and none holds it out. Command templates are mined online, and a
 * line is its own template until a second one like it generalises it (`tar -cf
 * /var/backups/db-20454.tar` before `tar -cf <*>`), so the first day's events carry templates
 * no later day repeats. Held out, they looked new to models fitted on the other days: a
 * nightly backup job's first night was the top of its host's calibration, above first-seen
 * attack commands.
 *
 * Events never held out (`never`: labelled normal) are fold -1 too, and their days count for
 * nothing: a row of last week labelled now brought its day to a window of four, and five
 * folds were made of four days and one event no fold scores.
 */
export function dayFolds(history: readonly BehaviourEvent[], k: number, firstDay: number, never: readonly boolean[]): Int8Array | null {
  const folds = new Int8Array(history.length);
  // days ranked as the calendar has them: an event of an earlier day coming later in the
  // stream (a row labelled normal joins with the newest number and its own time; logs read out
  // of order) counted, by changes of day, its day again and the day after it once more: one
  // day split over two folds, and five folds made of fewer days
  const days: number[] = [];
  for (const e of history) {
    if (!e.time) return null;
    days.push(Math.floor(e.time / DAY));
  }
  const ranks = new Map([...new Set(days.filter((_, i) => !never[i]))].sort((a, b) => a - b).map((day, rank) => [day, rank]));
  const skip = ranks.size > 0 && ranks.has(firstDay) && ranks.get(firstDay) === 0;
  for (let i = 0; i < history.length; i++) {
    if (never[i]) {
      folds[i] = -1;
      continue;
    }
    const rank = ranks.get(days[i])!;
    folds[i] = skip ? (rank === 0 ? -1 : (rank - 1) % k) : rank % k;
  }
  return ranks.size - (skip ? 1 : 0) >= k ? folds : null;
}

/** indices of fold k's events to score, an even sample when the history is large */
export function calibrationSample(folds: Int8Array, k: number): number[] {
  const all: number[] = [];
  for (let i = 0; i < folds.length; i++) if (folds[i] === k) all.push(i);
  const share = Math.ceil(MAX_CALIBRATION / CROSS_FIT_FOLDS);
  if (all.length <= share) return all;
  const out: number[] = [];
  for (let j = 0; j < share; j++) out.push(all[Math.floor((j * all.length) / share)]);
  return out;
}
