import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Test } from 'tap';
import { generateScenarios, type ScenarioOptions } from '../../scorer/eval/scenarios/generate';
import { ROOT } from './paths';

/** the options the held-out sets' tests and published md5s use: seed 12, 21 days from 1 Jan 2026 */
export const SET_OPTIONS = { seed: 12, days: 21, start: 1_767_225_600 };

/** the md5 of the file main.ts writes for these lines */
export function md5(lines: string[]): string {
  return crypto
    .createHash('md5')
    .update(lines.join('\n') + '\n')
    .digest('hex');
}

/** a set comes out the same for a seed, line for line and story for story, and another seed gives another */
export function assertDeterministic(t: Test, stories: NonNullable<ScenarioOptions['stories']>): void {
  const a = generateScenarios({ ...SET_OPTIONS, stories });
  const b = generateScenarios({ ...SET_OPTIONS, stories });
  t.equal(md5(a.train), md5(b.train), 'training lines');
  t.equal(md5(a.test), md5(b.test), 'labelled lines');
  t.same(a.testStory, b.testStory, 'story of every labelled line');
  const c = generateScenarios({ ...SET_OPTIONS, seed: 13, stories });
  t.not(md5(c.test), md5(a.test), 'seed 13 differs from seed 12');
}

/**
 * A held-out set's stories and labels: ten attacks and five benign first times, each naming its
 * ATT&CK technique, none another set's story under its name, no label on a training line, a
 * labelled line anomalous exactly when an attack story made it, and every story with rows in
 * the labelled days. Returns the set and its story ids for the set's own checks.
 */
export function assertLabelledStories(t: Test, stories: NonNullable<ScenarioOptions['stories']>, others: ScenarioOptions['stories'][]) {
  const set = generateScenarios({ ...SET_OPTIONS, stories });
  const attacks = new Set(set.stories.map((s) => s.id));
  const novelties = new Set(set.novelties.map((s) => s.id));
  t.equal(attacks.size, 10, 'ten attacks');
  t.equal(novelties.size, 5, 'five benign first times');
  for (const s of set.stories) t.match(s.title, /T1\d{3}/, `${s.id} names its ATT&CK technique`);
  for (const other of others.map((o) => generateScenarios({ ...SET_OPTIONS, stories: o })))
    for (const s of [...other.stories, ...other.novelties]) t.notOk(attacks.has(s.id) || novelties.has(s.id), `${s.id} is not reused`);
  t.ok(
    set.train.every((line) => !('label' in JSON.parse(line))),
    'no training line carries a label',
  );
  const labels = set.test.map((line) => JSON.parse(line).label as string);
  const wrong = labels.filter((label, i) => label !== (attacks.has(set.testStory[i]) ? 'anomalous' : 'normal'));
  t.equal(wrong.length, 0, 'a labelled line is anomalous if and only if an attack story made it');
  for (const id of [...attacks, ...novelties]) t.ok(set.testStory.includes(id), `${id} has rows in the labelled days`);
  return { set, attacks, novelties };
}

/** the md5s of the train.log and test.log `main.js --seed 12 --days 21` writes, as published */
const PUBLISHED: Record<'independent' | 'heldout' | 'heldout3' | 'heldout4' | 'heldout5' | 'heldout6', [string, string]> = {
  independent: ['349121bfd58beaca509faab1e9ef90aa', '7144d1a30d2f4a57879301e63282558a'],
  heldout: ['7f8fbd7de84f3b98d484ddf0feb23001', '2d6cc66fe05caef06468599b4c9b07f9'],
  heldout3: ['c2cc9d0a7b521212d8c0d6f5554bd555', 'a4bc3456704664930c1184e005d92976'],
  heldout4: ['97436a03d78205654e1d8749372880c2', '93ea223e66efd939169fef401960951a'],
  heldout5: ['52a21c6342ccd5c24d6f6fe22203ec59', '54c2683f91bfa0a6fbcd2d90f034fb34'],
  heldout6: ['6a0b0fb4774b71bc6f9c25f1efadd148', 'e066cddcfd73e44693b0230211c46de5'],
};

/** the sets come out byte for byte as their figures were published: a later set changed none of them */
export function assertPublished(t: Test, sets: ReadonlyArray<keyof typeof PUBLISHED>): void {
  for (const name of sets) {
    const set = generateScenarios({ ...SET_OPTIONS, stories: name });
    t.equal(md5(set.train), PUBLISHED[name][0], `${name} train.log`);
    t.equal(md5(set.test), PUBLISHED[name][1], `${name} test.log`);
  }
}

/** a result line as the held-out sets' tests read it */
export type SetLine = { label: string; name: string; hostIdentifier: string; unixTime: number; columns: Record<string, string> };

/** the config's file_paths as patterns: osquery's `%` is one path component's characters, `%%` anything below */
function watchedPlaces(): Array<{ category: string; pattern: RegExp }> {
  const conf = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'osquery.example.conf'), 'utf8')) as { file_paths: Record<string, string[]> };
  const places: Array<{ category: string; pattern: RegExp }> = [];
  for (const [category, globs] of Object.entries(conf.file_paths))
    for (const glob of globs) {
      const body = glob
        .split('%%')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '[^/]*'))
        .join('.*');
      places.push({ category, pattern: new RegExp(`^${body}$`) });
    }
  return places;
}

/**
 * A set's lines are what the pack's queries return: no loopback peer in socket_events, file
 * events only under the config's file_paths (read from conf/osquery.example.conf itself), with
 * that place's category, and only the actions the query keeps.
 */
export function assertKeepsToPack(t: Test, all: readonly SetLine[]): void {
  t.same(
    all.filter((p) => p.name === 'pack_hids_socket_events' && p.columns.remote_address.startsWith('127.')),
    [],
    'no loopback socket rows (the pack leaves them out)',
  );
  const places = watchedPlaces();
  const files = all.filter((p) => p.name === 'pack_hids_file_events');
  t.ok(files.length > 0, 'some file events');
  const outside = files.filter((p) => {
    const place = places.find((w) => w.pattern.test(p.columns.target_path));
    return !place || place.category !== p.columns.category || p.columns.target_path.endsWith('/.ssh/known_hosts');
  });
  t.same(
    outside.map((p) => p.columns.target_path),
    [],
    "every file event is under the config's file_paths, with that place's category",
  );
  t.same(
    files.filter((p) => !['CREATED', 'UPDATED', 'MOVED_TO', 'ATTRIBUTES_MODIFIED'].includes(p.columns.action)),
    [],
    "every file event has an action the pack's query keeps",
  );
}
