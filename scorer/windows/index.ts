// The window unit (design.md, `anomaly_windows`): what its callers use. One concept a file:
// scorer.ts takes rows in and answers with closed windows, scored.
export { WindowScorer, windowOptionsFrom } from './scorer';
export type { WindowScorerOptions } from './scorer';
