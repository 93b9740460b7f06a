#!/usr/bin/env node
// The JSON schemas' validators, compiled by the build rather than at every start: Ajv's
// require and compile were about 90 ms of CPU of each `anomaly` command and of each start of
// the extension for the config schema (docs/benchmarks.md), and over 100 ms more for the
// state files' schemas (state/schemas.ts) of every `score`, `train` and extension start.
// Ajv's own standalone code generation writes the validators it would have compiled, with
// the same options, so their errors (what conf/config.ts and state/schema.ts turn into
// messages) are the same; the SHA-256 of the schemas' text is written with them, and tests
// compare both with the schemas as they are (test/config-validator.test.ts,
// test/state-validators.test.ts). copy-assets.js runs this on every build, after it copies
// the config schema and transpiles state/schemas.ts.
// Usage: node scripts/config-validator.js SCHEMA OUT   (the config schema's)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

/** the options conf/config.ts reads its errors with: every error, not only the first */
const OPTIONS = { allErrors: true };

/** the SHA-256 of the schemas' text, as a generated module records it */
function schemaDigest(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/**
 * writes to `outFile` a CommonJS module of validators compiled with `options`: of `schema`, the
 * module is its validator; of `schemas` (name → schema), it exports one under each name. With
 * them, the digest of `text`, the schemas' text as their source (`from`) spells it
 */
function writeValidators({ schema, schemas, options, text, outFile, from }) {
  const Ajv = require('ajv').default;
  const standaloneCode = require('ajv/dist/standalone').default;
  const ajv = new Ajv({ ...options, code: { source: true } });
  for (const [name, s] of Object.entries(schemas ?? {})) ajv.addSchema(s, name);
  const code = schema ? standaloneCode(ajv, ajv.compile(schema)) : standaloneCode(ajv, Object.fromEntries(Object.keys(schemas).map((n) => [n, n])));
  fs.writeFileSync(
    outFile,
    `// written by scripts/config-validator.js from ${from} on every build; not to be edited\n${code}\nmodule.exports.schemaDigest = ${JSON.stringify(schemaDigest(text))};\n`,
    { mode: 0o644 },
  );
}

/** writes the validator of the config schema in `schemaFile` to `outFile` */
function writeConfigValidator(schemaFile, outFile) {
  const text = fs.readFileSync(schemaFile, 'utf8');
  writeValidators({ schema: JSON.parse(text), options: OPTIONS, text, outFile, from: path.basename(schemaFile) });
}

/** the state files' schemas and options, from the compiled state/schemas.js in `stateDir`, read afresh */
function stateSchemas(stateDir) {
  const file = path.join(stateDir, 'schemas.js');
  delete require.cache[require.resolve(file)];
  const { STATE_SCHEMAS, STATE_SCHEMA_OPTIONS } = require(file);
  return { schemas: STATE_SCHEMAS, options: STATE_SCHEMA_OPTIONS, text: JSON.stringify(STATE_SCHEMAS) };
}

/** writes the validators of the state files' schemas (`stateDir`/schemas.js) to `stateDir`/schemas.validate.cjs */
function writeStateValidators(stateDir) {
  const { schemas, options, text } = stateSchemas(stateDir);
  writeValidators({ schemas, options, text, outFile: path.join(stateDir, 'schemas.validate.cjs'), from: 'state/schemas.ts' });
}

module.exports = { OPTIONS, schemaDigest, writeConfigValidator, stateSchemas, writeStateValidators };

if (require.main === module) writeConfigValidator(process.argv[2], process.argv[3]);
