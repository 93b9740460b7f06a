import t, { type Test } from 'tap';
import { seededRandom } from '../demo/generate';
import { sequenceEvent } from '../scorer/features/extract';
import { KeySetNeighbours } from '../scorer/key-sets';
import { SessionScorer } from '../scorer/sessions';

const near = (t: Test, got: number, want: number) => t.ok(Math.abs(got - want) < 1e-12, `${got} = ${want}`);

t.test('key sets: Jaccard distance to the nearest training set, naming what differs', async (t) => {
  const sets = new KeySetNeighbours();
  sets.fit([
    ['open', 'read', 'read', 'close'],
    ['read', 'open', 'close'], // the same set again: kept once
    ['socket', 'connect', 'send', 'recv', 'close'],
  ]);
  t.equal(sets.size, 2);
  t.same(sets.distance(['close', 'open', 'read', 'read', 'read']), { value: 0, detail: '' }, 'order and counts do not matter');
  // {open, read, close, mmap} against {open, read, close}: 3 shared of 4
  const extra = sets.distance(['open', 'mmap', 'read', 'close']);
  near(t, extra.value, 0.25);
  t.match(extra.detail, /`mmap` is not in it \(1 never seen in training\)/, extra.detail);
  // {socket, connect, send, close} against the socket set: 4 shared of 5
  const missing = sets.distance(['socket', 'connect', 'send', 'close']);
  near(t, missing.value, 0.2);
  t.match(missing.detail, /`recv` is missing/, missing.detail);
  // {open, read, send}: 2 of 4 with the file set, 1 of 7 with the socket set
  near(t, sets.distance(['open', 'read', 'send']).value, 0.5);
});

// processes of two kinds, each drawing its calls from its own vocabulary, a few optional
function process(r: () => number, vocab: string[], optional: string[], length = 60) {
  const calls = [...vocab, ...optional.filter(() => r() < 0.5)];
  return Array.from({ length }, (_, i) => sequenceEvent(calls[Math.floor(r() * calls.length)], i));
}

t.test("sessions: a process that mixes two programs' calls is caught by its key set alone", async (t) => {
  const r = seededRandom(11);
  const file = ['open', 'read', 'close', 'fstat'];
  const net = ['socket', 'connect', 'send', 'recv', 'close'];
  const normal = () => (r() < 0.5 ? process(r, file, ['mmap', 'lseek']) : process(r, net, ['poll', 'setsockopt']));
  const scorer = new SessionScorer({ models: [], contextLength: 10, heldOutFraction: 0.2, crossFit: true, keySets: true });
  await scorer.fit(Array.from({ length: 400 }, normal));
  const normals = await scorer.score(Array.from({ length: 200 }, normal));
  const [mixed] = await scorer.score([process(r, ['open', 'read', 'socket', 'send', 'close'], [])]);
  t.ok(mixed.score < 0.3, `file calls and network calls in one process: score ${mixed.score.toFixed(2)}`);
  t.equal(mixed.model, 'sets');
  t.match(mixed.evidence.sets!.detail, /no training session uses this set of 5 keys/);
  t.ok(normals.filter((s) => s.score < 0.3).length <= 1, 'normal processes rarely score bad');
});
