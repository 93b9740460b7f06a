// JSON schemas of the state files, checked when a file is read (state/schema.ts). Data only:
// the build loads this module to write their validators (scripts/config-validator.js), so
// that no run compiles them.

const count = { type: 'integer', minimum: 0 } as const;
const num = { type: 'number' } as const;
const strings = { type: 'array', items: { type: 'string' } } as const;
/** the last queue row a learner learned (scorer/types.ts LearnedMark); absent in files of earlier builds */
const learned = {
  type: ['object', 'null'],
  required: ['epoch', 'at'],
  properties: { epoch: { type: 'string' }, at: { type: 'array', minItems: 3, maxItems: 3, items: count } },
} as const;

const event = {
  type: 'object',
  required: ['key', 'values', 'pairs', 'text', 'time'],
  properties: { key: { type: 'string' }, values: strings, pairs: strings, text: { type: 'string' }, time: num },
} as const;
const numbered = { type: 'object', required: ['e', 'n'], properties: { e: event, n: num } } as const;

export const SUBJECT_SCHEMA = {
  type: 'object',
  required: [
    'name',
    'state',
    'events',
    'firstTime',
    'lastTime',
    'lastTrained',
    'trainedAtEvents',
    'window',
    'recent',
    'seq',
    'context',
    'models',
    'calibration',
    'normalKeys',
    'anomalousKeys',
  ],
  properties: {
    name: { type: 'string', minLength: 1 },
    state: { enum: ['learning', 'monitoring'] },
    events: count,
    firstTime: num,
    lastTime: num,
    lastTrained: num,
    trainedAtEvents: count,
    window: { type: 'array', items: numbered },
    recent: { type: 'array', items: numbered },
    seq: num,
    context: { type: 'array', items: event },
    models: {
      type: 'array',
      items: { type: 'object', required: ['name', 'version'], properties: { name: { enum: ['rarity', 'ocsvm', 'lstm', 'ngram'] }, version: num } },
    },
    calibration: { type: ['object', 'null'] },
    normalKeys: strings,
    anomalousKeys: strings,
    learned,
    runLearned: learned,
    /** the window's events labelled normal, by number (absent in files of earlier builds) */
    labelled: { type: 'array', items: num },
    labelledRows: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: [{ type: 'string' }, num] } },
    fittedInOlderSpelling: { type: 'boolean' },
  },
} as const;

const minerState = {
  type: 'object',
  required: ['options', 'clusters'],
  properties: {
    options: { type: 'object', required: ['similarity', 'depth', 'maxChildren', 'masks', 'maxTemplates'], properties: { masks: strings } },
    clusters: { type: 'array', items: { type: 'array', minItems: 3, maxItems: 3, items: [num, strings, num] } },
  },
} as const;

export const EXTRACTOR_SCHEMA = {
  type: 'object',
  required: ['miner', 'users'],
  properties: {
    miner: minerState,
    legacyMiner: minerState,
    users: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: [{ type: 'string' }, { type: 'string' }] } },
    sessions: { type: 'array', items: { type: 'array', minItems: 3, maxItems: 3, items: [{ type: 'string' }, { type: 'string' }, { type: 'string' }] } },
    listeners: { type: 'array', items: { type: 'string' } },
    procs: { type: 'array', items: { type: 'array', minItems: 4, maxItems: 4, items: [{ type: 'string' }, { type: 'string' }, { type: 'string' }, num] } },
    // the processes of `procs` a package manager's run passes through (review13; a property of its
    // own, which a build before ignores: a tuple's fifth element would have set its file aside)
    runs: { type: 'array', items: { type: 'string' } },
    noLogin: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: [{ type: 'string' }, { type: 'string' }] } },
    // per host, when root last ran a reboot command, and the programs seen running (features/boot.ts):
    // the extension restarts with the host, and the boot it wakes into is the one they describe
    reboots: { type: 'array', items: { type: 'array', minItems: 2, maxItems: 2, items: [{ type: 'string' }, num] } },
    programs: { type: 'array', items: { type: 'string' } },
    learned,
    runLearned: learned,
    // how a long line's template is spelt (extract.ts LongForm; absent before compactword: the head form)
    longForm: { enum: ['words', 'head'] },
  },
} as const;

export const COUNTERS_SCHEMA = {
  type: 'object',
  properties: { received: count, accepted: count, rejected: count, scored: count, dropped: count, set_aside: count },
} as const;

export const CURSOR_SCHEMA = {
  type: 'object',
  required: ['segment', 'position'],
  properties: { segment: count, position: count, counters: COUNTERS_SCHEMA },
} as const;

export const EPOCH_SCHEMA = {
  type: 'object',
  required: ['epoch'],
  properties: { epoch: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export const FEEDBACK_SCHEMA = {
  type: 'object',
  required: ['id', 'label', 'note', 'time'],
  properties: { id: { type: 'string', minLength: 1 }, label: { enum: ['normal', 'anomalous'] }, note: { type: 'string' }, time: count },
} as const;

/** every schema state/schema.ts checks with, by the name its built validator is exported under */
export const STATE_SCHEMAS = {
  subject: SUBJECT_SCHEMA,
  extractor: EXTRACTOR_SCHEMA,
  cursor: CURSOR_SCHEMA,
  epoch: EPOCH_SCHEMA,
  feedback: FEEDBACK_SCHEMA,
} as const;

/** the options the validators are built with: the first error only, which is the message */
export const STATE_SCHEMA_OPTIONS = { allErrors: false } as const;
