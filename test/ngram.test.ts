import t from 'tap';
import { sequenceEvent } from '../scorer/features/extract';
import { createModel, loadModel } from '../scorer/models';
import { NgramModel } from '../scorer/models/ngram';
import type { BehaviourEvent, Model } from '../scorer/types';

const seq = (keys: string): BehaviourEvent[] => keys.split(' ').map((k, i) => sequenceEvent(k, i));

/** the model's evidence for every key of a sequence, each after the keys before it */
async function nll(m: Model, keys: string): Promise<number[]> {
  const events = seq(keys);
  const out = await m.score(events.map((event, i) => ({ event, context: events.slice(Math.max(0, i - 10), i) })));
  return out.map((e) => e.value);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// a program's loop: open, read a few times, close; sometimes a stat first
const TRAIN = [
  'open read read close open read read read close',
  'stat open read close open read read close',
  'open read close stat open read read read close',
  'open read read read close open read close',
];

t.test('ngram: a familiar order is likelier than the same keys reordered, a new key least likely', async (t) => {
  const m = createModel('ngram');
  await m.fit(TRAIN.map(seq));
  const familiar = mean(await nll(m, 'open read read close open read close'));
  const reordered = mean(await nll(m, 'close read open read close read open'));
  const unseen = await nll(m, 'open read mmap close');
  t.ok(familiar < 1.5, `familiar sequence: ${familiar.toFixed(2)} nats per key`);
  t.ok(reordered > familiar + 1, `reordered ${reordered.toFixed(2)} above familiar ${familiar.toFixed(2)}`);
  t.ok(unseen[2] > Math.max(...(await nll(m, 'open read read close'))) + 2, `mmap never seen: ${unseen[2].toFixed(2)} nats`);
  const [ev] = await m.score([{ event: sequenceEvent('mmap', 2), context: seq('open read') }]);
  t.match(ev.detail, /`mmap` was never seen after `open read`/, `reason: ${ev.detail}`);
});

t.test('ngram: probabilities after a context sum to 1 over the vocabulary and one unseen key', async (t) => {
  const m = new NgramModel({ order: 3 });
  await m.fit(TRAIN.map(seq));
  for (const context of ['open read', 'stat', '', 'close close']) {
    const ctx = context ? seq(context) : [];
    const keys = ['open', 'read', 'close', 'stat', 'never-seen'];
    const ev = await m.score(keys.map((k) => ({ event: sequenceEvent(k, ctx.length), context: ctx })));
    // a key never seen gets the unseen share once; the vocabulary's four keys the rest
    const total = ev.reduce((a, e) => a + Math.exp(-e.value), 0);
    t.ok(Math.abs(total - 1) < 1e-9, `after "${context}": ${total}`);
  }
});

t.test('ngram: online learning equals fitting, the state round trip scores the same', async (t) => {
  const fitted = createModel('ngram', { order: 4 });
  await fitted.fit(TRAIN.map(seq));
  const online = createModel('ngram', { order: 4 });
  for (const s of TRAIN.map(seq)) s.forEach((e, i) => online.observe!(e, s.slice(Math.max(0, i - 3), i)));
  const probe = 'stat open read read close mmap open';
  t.same(await nll(online, probe), await nll(fitted, probe), 'observe one event at a time = fit');
  const again = loadModel(JSON.parse(JSON.stringify(fitted.toState())));
  t.same(await nll(again, probe), await nll(fitted, probe), 'restored from its state');
  t.throws(() => loadModel({ ...fitted.toState(), version: 99 }), /version 99/);
});

t.test('ngram: past maxNgrams it stops adding patterns but keeps counting the known ones', async (t) => {
  const m = new NgramModel({ order: 2, maxNgrams: 3 });
  await m.fit([seq('a b a b a b')]);
  const before = await nll(m, 'a b a b');
  await m.fit([seq('c d e f g h')]);
  const state = m.toState() as unknown as { counts: [string, number][][] };
  t.equal(state.counts[1].length, 3, 'three bigram types kept (start>a, a>b, b>a)');
  t.ok((await nll(m, 'c d'))[1] > before[1] + 1, 'd after c was never learnt');
  t.throws(() => new NgramModel({ order: 0 }), /order/);
  t.throws(() => new NgramModel({ discount: 1 }), /discount/);
});
