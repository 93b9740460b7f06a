import type { ScoredEvent } from '../../scorer/types';
import type { RetainedScores } from '../../state/scores';

// Retained rows for the tables' tests: row i of a few users, every 10th scored bad (0.1).

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
