import { createHash } from 'crypto';
import type { ValidateFunction } from 'ajv';
import type { PayloadCheck } from './atomic';
import { STATE_SCHEMAS, STATE_SCHEMA_OPTIONS } from './schemas';

// The state files' schemas (state/schemas.ts), checked when a file is read: a file that parses
// but lacks a field (a subject without `window`, a `null` payload) is quarantined with the exact
// path of what is wrong, instead of failing later in the middle of scoring someone else's rows.

/**
 * their validators, written by the build (scripts/config-validator.js): compiled here, Ajv's
 * require and compile cost every `score`, `train` and extension start over 100 ms of CPU
 */
const prebuilt: Record<keyof typeof STATE_SCHEMAS, ValidateFunction> & { schemaDigest?: string } = require('./schemas.validate.cjs');

/**
 * the built validators when they were written from the schemas this build runs (their digest,
 * a SHA-256 well under a millisecond), else the schemas compiled now: a build that transpiled
 * state/schemas.ts without writing its validators again (transpile.js alone, a tsc) judged
 * every state file by the schemas of before, and only a test compared them (rev9)
 */
function validators(): Record<keyof typeof STATE_SCHEMAS, ValidateFunction> {
  if (prebuilt.schemaDigest === createHash('sha256').update(JSON.stringify(STATE_SCHEMAS)).digest('hex')) return prebuilt;
  const Ajv = require('ajv').default;
  const ajv = new Ajv(STATE_SCHEMA_OPTIONS);
  return Object.fromEntries(Object.entries(STATE_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)])) as Record<
    keyof typeof STATE_SCHEMAS,
    ValidateFunction
  >;
}
const built = validators();

/** a PayloadCheck from a validator: null, or "<path>: <what is wrong>" */
export function checker(validate: ValidateFunction): PayloadCheck {
  return (payload) => {
    if (validate(payload)) return null;
    const e = validate.errors?.[0];
    if (!e) return 'does not match its schema';
    return `${e.instancePath || '(the payload)'} ${e.message ?? 'is wrong'}`;
  };
}

export const checkSubject = checker(built.subject);
export const checkExtractor = checker(built.extractor);
export const checkCursor = checker(built.cursor);
export const checkEpoch = checker(built.epoch);
export const checkFeedback = checker(built.feedback);
