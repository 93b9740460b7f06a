import * as fs from 'fs';
import * as path from 'path';
import Ajv from 'ajv';
import t from 'tap';
import { ROOT } from './helpers/paths';
import { STATE_SCHEMAS, STATE_SCHEMA_OPTIONS } from '../state/schemas';
import { checkCursor, checkSubject } from '../state/schema';

// The state files' validators are compiled by the build (scripts/config-validator.js), not at
// each start. They must be the schemas' as they are now, and judge every payload as Ajv's
// compile of those schemas does, down to the first error, which is state/schema.ts's message.

const { schemaDigest, stateSchemas, writeStateValidators } = require(path.join(ROOT, 'scripts', 'config-validator.js'));
const built = require(path.join(__dirname, '..', 'state', 'schemas.validate.cjs'));

t.test("the built validators are the schemas' as they are now", async (t) => {
  t.equal(
    built.schemaDigest,
    schemaDigest(JSON.stringify(STATE_SCHEMAS)),
    'written from these very schemas (a schema changed since the build fails here until the build runs again)',
  );
  t.equal(stateSchemas(path.join(__dirname, '..', 'state')).text, JSON.stringify(STATE_SCHEMAS), 'the generator reads the schemas the run uses');
});

/** a value of every JSON type, the wrong one for most keys */
const VALUES: unknown[] = ['x', '', -1, 0, 1.5, true, null, {}, [], ['a'], [1], [['a', 1]], ['a', 'b', 1]];

type Node = { type?: string | readonly string[]; enum?: readonly unknown[]; required?: readonly string[]; properties?: Record<string, Node> };

/** the smallest payload the schema takes: its required keys only, each at its smallest */
function minimal(node: Node): unknown {
  if (node.enum) return node.enum[0];
  const type = typeof node.type === 'string' ? node.type : node.type?.[0];
  if (type === 'object') return Object.fromEntries((node.required ?? []).map((k) => [k, minimal(node.properties?.[k] ?? {})]));
  const smallest: Record<string, unknown> = { array: [], string: 'x', integer: 0, number: 0, boolean: false };
  return smallest[type ?? ''] ?? null;
}

/** payloads that set one key of the schema (at any depth of objects) to each of VALUES, in an otherwise valid payload */
function* payloads(node: Node, base: unknown = minimal(node), at: string[] = []): Generator<unknown> {
  const set = (value: unknown): unknown => {
    const copy = structuredClone(base) as Record<string, unknown>;
    let inner = copy;
    for (const key of at) inner = (inner[key] ??= {}) as Record<string, unknown>;
    Object.assign(inner, value);
    return copy;
  };
  yield base;
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    for (const v of VALUES) yield set({ [key]: v });
    yield* payloads(child, set({ [key]: minimal(child) }), [...at, key]);
  }
  yield set({ no_such_key: 1 });
}

t.test('the built validators and a compile of the schemas judge every payload alike, errors included', async (t) => {
  const ajv = new Ajv(STATE_SCHEMA_OPTIONS);
  let n = 0;
  let refused = 0;
  for (const [name, schema] of Object.entries(STATE_SCHEMAS)) {
    const compiled = ajv.compile(schema);
    const validate = built[name];
    for (const payload of [{}, null, 1, 'x', [], ...payloads(schema as Node)]) {
      const verdict = compiled(payload);
      if (validate(payload) !== verdict || JSON.stringify(validate.errors) !== JSON.stringify(compiled.errors))
        t.fail(`${name} ${JSON.stringify(payload)}: built ${JSON.stringify(validate.errors)}, compiled ${JSON.stringify(compiled.errors)}`);
      n++;
      if (!verdict) refused++;
    }
  }
  t.ok(n > 300 && refused > n / 2 && refused < n, `${n} payloads compared, ${refused} of them refused`);
});

t.test('the checks read their messages from the built validators', async (t) => {
  t.equal(checkCursor({ segment: 1, position: 2 }), null);
  t.equal(checkCursor({ segment: 1 }), "(the payload) must have required property 'position'");
  t.equal(checkCursor({ segment: -1, position: 2 }), '/segment must be >= 0');
  t.match(checkSubject(null), /^\(the payload\) must be object$/);
});

// A build that transpiles state/schemas.ts without writing its validators again (transpile.js
// alone, a tsc) leaves the validators of the schemas before: the run itself must not use them.
t.test('validators written from other schemas than the run has are not the ones it checks with', async (t) => {
  // under dist/: the copied modules find ajv where the built ones do
  const dir = fs.mkdtempSync(path.join(__dirname, 'stale-validators-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // the schemas of before: a cursor without its position
  const before = { ...STATE_SCHEMAS, cursor: { ...STATE_SCHEMAS.cursor, required: ['segment'] } };
  fs.writeFileSync(
    path.join(dir, 'schemas.js'),
    `exports.STATE_SCHEMAS = ${JSON.stringify(before)};\nexports.STATE_SCHEMA_OPTIONS = ${JSON.stringify(STATE_SCHEMA_OPTIONS)};\n`,
  );
  writeStateValidators(dir);
  // then the schemas of now, and the module that checks with them
  for (const f of ['schemas.js', 'schema.js']) fs.copyFileSync(path.join(__dirname, '..', 'state', f), path.join(dir, f));
  // (the generator's require of the schemas of before is cached: a run starts without it)
  delete require.cache[require.resolve(path.join(dir, 'schemas.js'))];
  const run = require(path.join(dir, 'schema.js'));
  t.equal(
    run.checkCursor({ segment: 1 }),
    "(the payload) must have required property 'position'",
    'a cursor without its position is refused, as the schemas of now say',
  );
  t.equal(run.checkCursor({ segment: 1, position: 2 }), null);
});
