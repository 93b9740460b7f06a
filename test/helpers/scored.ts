import type { ScoredEvent } from '../../scorer/types';
import type { RetainedScores } from '../../state/scores';

// Retained rows for the tables' and stores' tests.

/** row i of a few users on web-01, scored `score` */
export function scoredEvent(i: number, score: number): ScoredEvent {
  return {
    id: `id-${i}`,
    time: 1_790_000_000 + i,
    host: 'web-01',
    subject: `user${i % 7}`,
    query: 'pack_user-behavior_process_events',
    action: 'added',
    event: `exec /usr/bin/tool${i % 5} <- /bin/bash ü€😀`,
    score,
    verdict: score < 0.3 ? 'bad' : 'good',
    model: 'rarity',
    reasons: score < 0.3 ? 'program `/usr/bin/nc` never seen before' : 'usual',
    columns: '{"pid":"1"}',
  };
}

/** `rows` rows appended to `store`, every 10th scored 0.1, the others 0.8 */
export function fillScores(store: RetainedScores, rows: number): void {
  for (let i = 0; i < rows; i += 5000)
    store.append(Array.from({ length: Math.min(5000, rows - i) }, (_, k) => scoredEvent(i + k, (i + k) % 10 === 0 ? 0.1 : 0.8)));
}

/** a plain row i of alice on host h, scored good (0.9), with `fields` in place of its own */
export function plainRow(i: number, fields: Partial<ScoredEvent> = {}): ScoredEvent {
  return {
    id: `r-${i}`,
    time: 1_790_000_000 + i,
    host: 'h',
    subject: 'alice',
    query: 'q',
    action: 'added',
    event: 'exec /bin/x <- /bin/sh',
    score: 0.9,
    verdict: 'good',
    model: 'rarity',
    reasons: 'usual',
    columns: '{}',
    ...fields,
  };
}
