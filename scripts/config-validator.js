#!/usr/bin/env node
// The config schema's validator, compiled by the build rather than at every start: Ajv's
// compile of conf/anomaly.schema.json was about 90 ms of CPU of each `anomaly` command and
// of each start of the extension (docs/benchmarks.md). Ajv's own standalone code generation
// writes the validator it would have compiled, with the same options, so its errors (what
// conf/config.ts turns into messages) are the same; the schema's SHA-256 is written with it,
// and a test compares both with the schema as it is (test/config-validator.test.ts).
// copy-assets.js runs this on every build, after it copies the schema.
// Usage: node scripts/config-validator.js SCHEMA OUT
'use strict';
const crypto = require('crypto');
const fs = require('fs');

/** the options conf/config.ts reads its errors with: every error, not only the first */
const OPTIONS = { allErrors: true };

/** the SHA-256 of the schema's text, as the generated validator records it */
function schemaDigest(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** writes the validator of the schema in `schemaFile` to `outFile` (a CommonJS module) */
function writeConfigValidator(schemaFile, outFile) {
  const Ajv = require('ajv').default;
  const standaloneCode = require('ajv/dist/standalone').default;
  const text = fs.readFileSync(schemaFile, 'utf8');
  const ajv = new Ajv({ ...OPTIONS, code: { source: true } });
  const code = standaloneCode(ajv, ajv.compile(JSON.parse(text)));
  fs.writeFileSync(
    outFile,
    `// written by scripts/config-validator.js from anomaly.schema.json on every build; not to be edited\n${code}\nmodule.exports.schemaDigest = ${JSON.stringify(schemaDigest(text))};\n`,
    { mode: 0o644 },
  );
}

module.exports = { OPTIONS, schemaDigest, writeConfigValidator };

if (require.main === module) writeConfigValidator(process.argv[2], process.argv[3]);
