// The window unit (design.md, `anomaly_windows`): what its callers use. One concept a file:
// scorer.ts takes rows in and answers with closed windows, scored; options.ts is its configuration.
export { WindowScorer } from './scorer';
export { windowOptionsFrom } from './options';
export type { WindowScorerOptions } from './options';
