import type { ValidateFunction } from 'ajv';
import type { PayloadCheck } from './atomic';
import type { STATE_SCHEMAS } from './schemas';

// The state files' schemas (state/schemas.ts), checked when a file is read: a file that parses
// but lacks a field (a subject without `window`, a `null` payload) is quarantined with the exact
// path of what is wrong, instead of failing later in the middle of scoring someone else's rows.

/**
 * their validators, written by the build (scripts/config-validator.js): compiled here, Ajv's
 * require and compile cost every `score`, `train` and extension start over 100 ms of CPU
 */
const built: Record<keyof typeof STATE_SCHEMAS, ValidateFunction> = require('./schemas.validate.cjs');

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
