import t from 'tap';
import { windowReport, type ListedWindow } from '../scorer/eval/scenarios/window-report';
import type { ScoredEvent } from '../scorer/types';
import type { Story } from '../scorer/eval/scenarios/stories';

// The scenario runner's report by window: a story whose rows each look ordinary is found when a
// window holding them is bad, and that is said next to what the rows alone find.

const T0 = 1_768_910_400; // a multiple of 600
const row = (time: number, subject: string, score: number): ScoredEvent => ({
  id: String(time),
  time,
  host: 'h',
  subject,
  query: 'q',
  action: 'added',
  event: 'exec /usr/bin/ssh <- /bin/bash',
  score,
  verdict: score < 0.3 ? 'bad' : score < 0.7 ? 'ugly' : 'good',
  model: 'rarity',
  reasons: '',
  columns: '{}',
});
const win = (start: number, subject: string, score: number | null, rows: number, anomalous: number): ListedWindow => ({
  subject,
  host: 'h',
  start,
  end: start + 600,
  events: rows,
  score,
  verdict: score === null ? 'learning' : score < 0.3 ? 'bad' : score < 0.7 ? 'ugly' : 'good',
  model: score === null ? '' : 'mix',
  reasons: score === null ? 'learning' : 'unusual mix of events',
  top_ids: '[]',
  rows,
  anomalous,
});
const story = (id: string): Story => ({ id, title: id, host: 'h', day: 0, play: () => undefined });

t.test('a story no row of which is bad is found by its bad window; a quiet one is missed; novelties and routine apart', async (t) => {
  const rows = [
    // burst: three ordinary rows of kim, in one window
    row(T0 + 10, 'kim', 0.6),
    row(T0 + 20, 'kim', 0.6),
    row(T0 + 30, 'kim', 0.6),
    // quiet: ann's rows, nothing bad anywhere
    row(T0 + 3600, 'ann', 0.6),
    // a benign novelty, whose window is bad
    row(T0 + 7200, 'lee', 0.8),
    // the routine
    row(T0 + 9000, 'bob', 0.9),
  ];
  const testStory = ['burst', 'burst', 'burst', 'quiet', 'novel', ''];
  const windows = [win(T0, 'kim', 0.01, 3, 3), win(T0 + 3600, 'ann', 0.5, 1, 1), win(T0 + 7200, 'lee', 0.1, 1, 0), win(T0 + 9000, 'bob', 0.9, 1, 0)];
  const text = windowReport({ stories: [story('burst'), story('quiet')], novelties: [story('novel')], testStory }, rows, windows, 600, {
    n: 4,
    anomalies: 2,
    recall: 0.5,
    auc: 1,
    normal_below: { '0.3': 0.5, '0.5': 0.5, '0.7': 0.5 },
  });
  const line = (id: string) => text.split('\n').find((l) => l.startsWith(`| ${id} |`)) ?? '';
  t.match(line('burst'), /\| 0\/3 \| 1\/1 \| 0 \| 0\.010 \| missed \| found \| 0 \/ 1 \| found \|/, 'missed by its rows, found by its window');
  t.match(line('quiet'), /\| 0\/1 \| 0\/1 \| 1 \| 0\.500 \| missed \| missed \| 0 \/ 0 \| missed \|/, 'an ugly window finds nothing');
  t.match(line('novel'), /\| 0\/1 \| 1\/1 \| 0 \| 0\.100 \| quiet \| false alarm \| 0 \/ 1 \| false alarm \|/, "a novelty's bad window is a false alarm");
  t.match(text, /1 of 2; of the 1 without a benign novelty's rows \(1 scored\), 0 below 0\.3,/, "the novelty's window is told apart from the routine's");
  t.match(text, /- 0\.100 lee@h .*\(novel 1; mix\)/, 'the false bad window is listed with the stories its rows belong to');
});
