import t from 'tap';
import { floodRows } from '../bench/long-value-flood';
import { compactValue, compactWord, DIGEST_MARK, MAX_TEMPLATE_CHARS, MAX_VALUE_CHARS, TEMPLATE_WORD_CHARS } from '../scorer/features/compact-value';
import { FeatureExtractor } from '../scorer/features/extract';
import { cachedChars } from '../scorer/features/generalise';
import { UidMap } from '../scorer/features/subject';
import { RarityModel } from '../scorer/models/rarity';
import type { BehaviourEvent, ResultRow } from '../scorer/types';

// One local user's rows of long new names in every column they decide (bench/long-value-flood.ts:
// their own programs run from directories of 900-letter names, with arguments, shell history,
// connections and files of such names) against the stores keyed by values, which were bounded
// by their count of values only: 20,000 such rows held ~140 MB of the scorer's heap, and the
// extension under osqueryd's watchdog grew by more than the 200 MB it allows (memcap;
// docs/hardening.md). What must hold: the stores stay within a budget in characters by their own
// accounting, and what the bound makes a model forget is not the routine the user had before
// the flood, nor does it make the user's next attack look known.

const DAY = 86400;
const T0 = 1_790_000_000 - (1_790_000_000 % DAY);
const FLOOD = 4_000;
/**
 * rarity's bound on the characters of the values it counts (RarityOptions.maxChars; 8,000,000 by
 * default, which 20,000 rows of the flood reach, in minutes): an eighth, reached in 4,000 rows
 */
const RARITY_CHARS = 1_000_000;

/** the characters of the values a rarity model's saved state counts, and the longest of them */
function valuesOf(m: RarityModel): { chars: number; longest: number } {
  const fields = m.toState().fields as Record<string, { counts: Array<[string, number]> }>;
  let chars = 0;
  let longest = 0;
  for (const f of Object.values(fields))
    for (const [k] of f.counts) {
      chars += k.length;
      longest = Math.max(longest, k.length);
    }
  return { chars, longest };
}

const process = (time: number, exe: string, cmdline: string, cwd: string, pid: number, uid = '1003'): ResultRow => ({
  query: 'pack_hids_process_events',
  host: 'web-01',
  time,
  action: 'added',
  decorations: {},
  columns: { pid: String(pid), parent: '900', path: exe, cmdline, cwd, uid, euid: uid, auid: uid, time: String(time) },
});

/** a user's working days: a few programs in their project, every few minutes */
function routine(x: FeatureExtractor, uid: string, days: number): BehaviourEvent[] {
  const home = uid === '1003' ? '/home/eve' : '/home/alice';
  const tools = [
    ['/usr/bin/git', 'git status'],
    ['/usr/bin/vim', 'vim main.c'],
    ['/usr/bin/make', 'make -j4'],
    ['/usr/bin/ssh', 'ssh build-2'],
  ];
  const out: BehaviourEvent[] = [];
  for (let d = 0; d < days; d++)
    for (let i = 0; i < 100; i++) {
      const [exe, line] = tools[i % tools.length];
      out.push(x.extract(process(T0 + d * DAY + 9 * 3600 + i * 300, exe, line, `${home}/src`, 1000 + d * 100 + i, uid)).event);
    }
  return out;
}

t.test('a long value is kept as its head and a digest of the whole: the same value the same, two values two (memcap)', async (t) => {
  const long = `/home/eve/${'g'.repeat(900)}`;
  const other = `/home/eve/${'g'.repeat(899)}h`;
  t.ok(compactValue(long).length <= MAX_VALUE_CHARS, 'bounded');
  t.equal(compactValue(long), compactValue(`/home/eve/${'g'.repeat(900)}`), 'the same value compacts the same');
  t.not(compactValue(long), compactValue(other), 'values that differ past the head stay apart');
  t.ok(compactValue(long).startsWith('/home/eve/ggg'), 'its beginning is kept');
  t.equal(compactValue(compactValue(long)), compactValue(long), 'compacting twice changes nothing (a state read back)');
  t.equal(compactValue('/usr/bin/git'), '/usr/bin/git', 'a value of the routine is as it was');
});

t.test("a long line's template keeps each word in its place, each bounded, and the whole within MAX_TEMPLATE_CHARS (compactword)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const word = (i: number, n: number) => String.fromCharCode(103 + (i % 20)).repeat(n);
  // the longest a line can make it (cut at 4,096 characters): 24 mined words of 60 letters, then option names of up to 33
  const mined = Array.from({ length: 23 }, (_, i) => word(i, 60));
  const options = Array.from({ length: 1000 }, (_, i) => `--${word(i, 31 - (i % 3))}${i % 7 === 0 ? '=x' : ''}`);
  const cmd = (line: string, pid: number) =>
    x
      .extract(process(T0 + pid, '/usr/bin/tool', line, '/home/eve', pid))
      .event.values.find((v) => v.startsWith('cmd='))
      ?.slice(4) ?? '';
  const template = cmd(['tool', ...mined, ...options].join(' '), 1);
  const words = template.split(' ');
  t.ok(template.length <= MAX_TEMPLATE_CHARS, `${template.length} characters, at most ${MAX_TEMPLATE_CHARS}`);
  t.ok(words.length <= 24 + 6, `${words.length} words: the 24 mined and at most 6 option names`);
  t.ok(
    words.every((w) => w.length <= TEMPLATE_WORD_CHARS + 1),
    'each within its bound',
  );
  t.equal(words[5], compactWord(words[5]), 'a compacted word compacts to itself (a state read back)');
  // one word changed keeps the others as they were, in their places
  const changed = cmd(['tool', ...mined.map((w, i) => (i === 10 ? word(11, 60) : w)), ...options].join(' '), 2).split(' ');
  t.equal(changed.length, words.length, 'as many words');
  t.same(
    changed.map((w, i) => (w === words[i] ? '' : i)).filter((i) => i !== ''),
    [11],
    'only the changed word differs',
  );
  t.equal(compactWord(`arn:aws:eks:eu-west-1:<*>:cluster/${'p'.repeat(40)}`).endsWith('<*>'), true, "a long word with the miner's wildcard stays one");
  t.equal(compactWord('short'), 'short', 'a short word is as it was');
});

t.test('a long value of one-byte characters stays one byte a character once compacted, and an older spelling reads as this one (heapmem)', async (t) => {
  // V8 keeps a string of Latin-1 characters one byte a character, any other two. The mark
  // between head and digest was `…` (U+2026): every compacted value, and every pair and token
  // holding one, took two bytes a character, ~13 MB of the scorer's heap under the flood.
  const long = `/home/eve/${'g'.repeat(900)}`;
  const now = compactValue(long);
  t.ok(
    [...now].every((c) => c.charCodeAt(0) <= 0xff),
    `a compacted path of Latin-1 characters has only Latin-1 characters: ${JSON.stringify(now.slice(225, 240))}`,
  );
  // as memcap's build spelt it: the same head and digest around `…#`
  const older = `${now.slice(0, MAX_VALUE_CHARS - 24)}…#${now.slice(MAX_VALUE_CHARS - 22)}`;
  t.equal(older.length, MAX_VALUE_CHARS);
  t.equal(compactValue(older), now, "an older build's compacted value (a state read back) is this build's");
  t.equal(compactValue(now), now, 'compacting twice changes nothing');
});

t.test("two raw values that differ only in the older mark against this build's are two values (markguard)", async (t) => {
  // compactValue respells a value of 256 characters with the older mark after its head as one of
  // this build (a state read back): a raw path of that shape was taken for one, and became the
  // value of another path that differs from it in that one character
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const head = `/srv/tools/${'g'.repeat(MAX_VALUE_CHARS - 35)}`;
  const [older, now] = ['\u2026#', DIGEST_MARK].map((mark) => `${head}${mark}${'h'.repeat(22)}`);
  t.equal(older.length, MAX_VALUE_CHARS, 'raw values of the length a compacted value has');
  const exeOf = (path: string, pid: number) => x.extract(process(T0 + pid, path, 'tool --serve', '/srv', pid)).event.values.find((v) => v.startsWith('exe='));
  const [a, b] = [exeOf(older, 1), exeOf(now, 2)];
  t.not(a, b, `each is its own value: ${a?.slice(-28)} and ${b?.slice(-28)}`);
  t.notOk(a?.includes(DIGEST_MARK) || b?.includes(DIGEST_MARK), 'and neither spells a compacted one');
});

/**
 * an extractor that has extracted the flood's FLOOD rows, and their events: made once for the
 * file, as the two tests that read it extracted the same rows each (the costliest part of
 * both); the second adds its listeners to it after the first has checked its budgets
 */
let flooded: { x: FeatureExtractor; events: BehaviourEvent[] } | undefined;
function floodedExtractor(): { x: FeatureExtractor; events: BehaviourEvent[] } {
  if (!flooded) {
    const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
    const events: BehaviourEvent[] = [];
    for (let from = 0; from < FLOOD; from += 1000) for (const row of floodRows(1000, { from })) events.push(x.extract(row).event);
    flooded = { x, events };
  }
  return flooded;
}

t.test("one user's flood of long new values keeps rarity and the extractor within their budgets in characters (memcap)", async (t) => {
  const { x, events } = floodedExtractor();
  // a pooled baseline learning (or a subject in its first days): every event is learnt
  const m = new RarityModel({ maxChars: RARITY_CHARS });
  for (const event of events) m.observe(event, []);
  const held = valuesOf(m);
  t.ok(held.chars <= RARITY_CHARS, `rarity's values hold ${held.chars.toLocaleString('en-US')} characters, at most ${RARITY_CHARS.toLocaleString('en-US')}`);
  t.ok(held.longest <= MAX_VALUE_CHARS + MAX_TEMPLATE_CHARS + 32, `its longest value (a pair of two) is ${held.longest} characters`);
  t.equal(m.heldChars(), held.chars, "the model's own accounting is what its state holds");
  const ex = x.heldChars();
  // (each row names one program at most, kept as a value is, at most twice: as a process's, and
  // as one of the host's programs seen running, `host:` before it)
  t.ok(
    ex.processes <= 2 * FLOOD * ('web-01:'.length + MAX_VALUE_CHARS),
    `the process table's programs hold ${ex.processes.toLocaleString('en-US')} characters`,
  );
  t.ok(ex.interned <= 8_000_000 + 4 * 2 * MAX_VALUE_CHARS, `the extractor's shared copies hold ${ex.interned.toLocaleString('en-US')}`);
  t.ok(ex.templates <= 8_000_000 + 4096, `its templates ${ex.templates.toLocaleString('en-US')}`);
  // the paths generalised are remembered by the path: each of the flood's is new
  t.ok(cachedChars() <= 4_000_000 + 2 * 2 * 1024, `the generalised paths remembered hold ${cachedChars().toLocaleString('en-US')} characters`);
});

t.test("the process table's programs seen running and listening are kept as an event's value is, not whole (heapmem)", async (t) => {
  // Every process's program was already kept compacted (memcap), but the same program was also
  // kept whole as a key of the host's programs seen running (a boot's starts must be among
  // them), 20,000 of them: under the flood's 900-character names 15 MB of the scorer's heap
  // that no accounting counted, and up to 20,000 × a path's length for longer ones.
  const { x } = floodedExtractor();
  const listen = (pid: number, exe: string): ResultRow => ({
    query: 'pack_hids_listening_ports',
    host: 'web-01',
    time: T0,
    action: 'added',
    decorations: {},
    columns: { pid: String(pid), path: exe, port: '4444', protocol: '6', address: '0.0.0.0', family: '2' },
  });
  // (letters, not digits, tell them apart: a path's numbers are generalised)
  for (let i = 0; i < 26; i++) x.extract(listen(70_000 + i, `/home/eve/${'l'.repeat(900)}${String.fromCharCode(97 + i)}`));
  const state = x.toState();
  const longest = (keys: string[]) => Math.max(0, ...keys.map((k) => k.length));
  const bound = 'web-01:'.length + MAX_VALUE_CHARS;
  t.ok(state.programs && state.programs.length >= FLOOD / 2, `the flood's programs are known (${state.programs?.length})`);
  t.ok(longest(state.programs ?? []) <= bound, `the longest program kept is ${longest(state.programs ?? [])} characters, at most ${bound}`);
  t.ok(state.listeners && state.listeners.length >= 26, `the listeners are known (${state.listeners?.length})`);
  t.ok(longest(state.listeners ?? []) <= bound, `the longest listener kept is ${longest(state.listeners ?? [])} characters, at most ${bound}`);
  const held =
    (state.programs ?? []).concat(state.listeners ?? []).reduce((n, k) => n + k.length, 0) + (state.procs ?? []).reduce((n, p) => n + p[1].length, 0);
  t.equal(x.heldChars().processes, held, "the process table's accounting counts what it holds");
});

t.test("what the bound in characters forgets is not the user's routine, and does not make the user's next attack known (memcap)", async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const bounded = new RarityModel({ maxChars: RARITY_CHARS });
  const unbounded = new RarityModel({ maxChars: Infinity });
  const learn = (e: BehaviourEvent) => {
    bounded.observe(e, []);
    unbounded.observe(e, []);
  };
  for (const e of [...routine(x, '1003', 14), ...routine(x, '1001', 14)].sort((a, b) => a.time - b.time)) learn(e);
  const start = T0 + 14 * DAY;
  for (let from = 0; from < FLOOD; from += 1000) for (const row of floodRows(1000, { from, start })) learn(x.extract(row).event);
  t.ok(bounded.heldChars() <= RARITY_CHARS, 'the flood reached the bound');
  t.ok(unbounded.heldChars() > RARITY_CHARS, 'and would have passed it');

  const after = start + FLOOD * 8 + 3600;
  const usual = x.extract(process(after, '/usr/bin/git', 'git status', '/home/eve/src', 90_001)).event;
  const alices = x.extract(process(after + 1, '/usr/bin/make', 'make -j4', '/home/alice/src', 90_002, '1001')).event;
  const attack = x.extract(process(after + 2, '/tmp/.x/kworker', 'kworker -c 203.0.113.7 4444', '/tmp', 90_003)).event;
  const [u, a, k] = await bounded.score([usual, alices, attack].map((event) => ({ event, context: [] })));
  const [u0, , k0] = await unbounded.score([usual, alices, attack].map((event) => ({ event, context: [] })));
  t.notMatch(u.detail, /never seen/, `the user's routine is still known: ${u.detail}`);
  t.ok(u.value <= u0.value + 0.5, `and weighs as little as without the bound (${u.value.toFixed(2)} bits, ${u0.value.toFixed(2)} without)`);
  t.notMatch(a.detail, /never seen/, `another user's routine too: ${a.detail}`);
  t.match(k.detail, /never seen/, `the user's new program is new: ${k.detail}`);
  t.ok(k.value >= k0.value - 0.5, `and weighs as much as without the bound (${k.value.toFixed(2)} bits, ${k0.value.toFixed(2)} without)`);
});
