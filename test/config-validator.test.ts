import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import t from 'tap';
import { ROOT } from './helpers/paths';

// The config's validator is compiled by the build (scripts/config-validator.js), not at each
// start. It must be the schema's as it is now, and judge every config as Ajv's compile of
// that schema does, down to the errors conf/config.ts turns into messages.

const { OPTIONS, schemaDigest } = require(path.join(ROOT, 'scripts', 'config-validator.js'));
const schemaText = fs.readFileSync(path.join(ROOT, 'conf', 'anomaly.schema.json'), 'utf8');
const schema = JSON.parse(schemaText);
const built = require(path.join(__dirname, '..', 'conf', 'anomaly.schema.validate.cjs'));

t.test("the built validator is the schema's as it is now", async (t) => {
  t.equal(
    built.schemaDigest,
    schemaDigest(schemaText),
    'written from this very schema (a schema changed since the build fails here until the build runs again)',
  );
});

/** a value of every JSON type, the wrong one for most keys */
const VALUES: unknown[] = ['x', '', -1, 0, 1.5, 1e12, true, null, {}, [], [1], { unknown_key: 1 }];

/** every config that sets one key of the schema (at any depth) to each of VALUES, and one with an unknown key beside it */
function* configs(node: { properties?: Record<string, unknown> }, at: string[] = []): Generator<unknown> {
  const set = (value: unknown) => at.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    for (const v of VALUES) yield set({ [key]: v });
    yield* configs(child as { properties?: Record<string, unknown> }, [...at, key]);
  }
  yield set({ no_such_key: 1 });
}

t.test('the built validator and a compile of the schema judge every config alike, errors included', async (t) => {
  const compiled = new Ajv(OPTIONS).compile(schema);
  const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', 'anomaly.example.json'), 'utf8'));
  let n = 0;
  let refused = 0;
  for (const config of [{}, example, ...configs(schema)]) {
    const verdict = compiled(config);
    if (built(config) !== verdict || JSON.stringify(built.errors) !== JSON.stringify(compiled.errors))
      t.fail(`${JSON.stringify(config)}: built ${JSON.stringify(built.errors)}, compiled ${JSON.stringify(compiled.errors)}`);
    n++;
    if (!verdict) refused++;
  }
  t.ok(n > 300 && refused > n / 2, `${n} configs compared, ${refused} of them refused`);
});
