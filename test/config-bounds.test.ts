import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { ConfigError, DEFAULTS, resolveConfig } from '../conf/config';
import { ROOT } from './helpers/paths';

// Every number of the config that sizes memory, time or work has an upper bound, each with
// the reason beside it in the schema (`$comment`), which the error names with the option: a
// window of events, retained rows, the queue's bytes, a line's bytes, loaded and kept subjects
// were bounded below only, so `retention.max_rows: 1e9` was taken, and the extension started
// an index that osqueryd's watchdog (or the heap) ended later, far from the config's cause.

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'anomaly.schema.json'), 'utf8'));

interface NumberOption {
  key: string;
  section: string;
  name: string;
  node: { type: string; maximum?: number; $comment?: string };
}

/** every integer or number option of the schema, by its dotted key */
function numberOptions(): NumberOption[] {
  const out: NumberOption[] = [];
  for (const [section, s] of Object.entries(schema.properties as Record<string, { properties?: Record<string, NumberOption['node']> }>))
    for (const [name, node] of Object.entries(s.properties ?? {}))
      if (node.type === 'integer' || node.type === 'number') out.push({ key: `${section}.${name}`, section, name, node });
  return out;
}

/**
 * Counts that size nothing: a subject learns within a window that retrain.window_events bounds,
 * whatever these ask, and a value past any history means "never leave learning", which tests
 * and the chaos bench use (min_events 1e9). A non-finite number (`1e999` is Infinity to
 * JSON.parse) is refused by the type already.
 */
const UNBOUNDED = new Set(['learning.min_events', 'learning.min_days']);

t.test('every number of the config that sizes memory, time or work has a maximum and a reason', async (t) => {
  const options = numberOptions();
  t.ok(options.length >= 15, `${options.length} numeric options`);
  for (const o of options) {
    if (UNBOUNDED.has(o.key)) {
      t.equal(o.node.maximum, undefined, `${o.key}: sizes nothing, left unbounded`);
      continue;
    }
    t.type(o.node.maximum, 'number', `${o.key}: has a maximum`);
  }
});

t.test('a value past its maximum is refused, the error naming the option, the bound and why', async (t) => {
  for (const o of numberOptions()) {
    if (o.node.maximum === undefined) continue;
    const at = (v: number) => resolveConfig({ [o.section]: { [o.name]: v } }, 'anomaly.json', {});
    const max = o.node.maximum;
    t.equal((at(max) as unknown as Record<string, Record<string, number>>)[o.section][o.name], max, `${o.key}: ${max} is taken`);
    const over = o.node.type === 'integer' ? max + 1 : max + 0.5;
    let err: unknown;
    try {
      at(over);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `${o.key}: ${over} refused`);
    const message = (err as Error).message;
    t.ok(message.startsWith(`anomaly.json: ${o.key}: must be <= ${max}`), `${o.key}: names the option and the bound (${message.slice(0, 80)})`);
    if (o.node.$comment) t.ok(message.endsWith(`: ${o.node.$comment}`), `${o.key}: and why`);
    else t.match(o.key, /^(windows|budget)\./, `${o.key}: a bound from before, its reason in its description`);
  }
  // the one the brief's example names, as a user meets it
  t.throws(() => resolveConfig({ retention: { max_rows: 1e9 } }, '/etc/osquery/anomaly.json', {}), {
    message: /^\/etc\/osquery\/anomaly\.json: retention\.max_rows: must be <= 10000000: the index of retained rows is held in memory/,
  });
});

t.test("the defaults and conf/'s example config are within every bound", async (t) => {
  // (cpu_percent's default is null, osqueryd's own limit, which the file cannot say: 50 stands in)
  const defaults = { ...DEFAULTS, budget: { ...DEFAULTS.budget, cpu_percent: 50 } };
  t.doesNotThrow(() => resolveConfig(defaults, 'defaults', {}), 'the defaults, written out');
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'anomaly.example.json'), 'utf8'));
  t.doesNotThrow(() => resolveConfig(example, 'conf/anomaly.example.json', {}), 'conf/anomaly.example.json');
  for (const o of numberOptions()) {
    const value = (defaults as unknown as Record<string, Record<string, number>>)[o.section][o.name];
    if (o.node.maximum !== undefined) t.ok(value <= o.node.maximum / 2, `${o.key}: the default ${value} is at most half its bound ${o.node.maximum}`);
  }
});
