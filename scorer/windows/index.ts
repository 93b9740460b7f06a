// The window unit (design.md, `anomaly_windows`): what its callers use. One concept a file:
//
//   scorer.ts      WindowScorer: rows in, closed windows out, scored; owns the subjects, the
//                  pools and the open windows, and saves and restores them
//   options.ts     its configuration, from the extension's config
//   open.ts        the windows still open, as kept and as saved in open.json
//   subject.ts     one subject's windows (alice@web-01): its history, reference and calibration
//   pool.ts        a host's window baseline (*@web-01), which judges a learning subject's windows
//   pool-trim.ts   which windows a pool lets go when it is full
//   reference.ts   what a subject (or a pool) usually does: its mix, order and pace
//   statistics.ts  how far a window is from that: mix, sequence, rate, peak, mean
//   pace.ts        the rate against a subject's own usual pace, or a typical subject's
//   calibration.ts how held-out windows' statistics become a score
//   reasons.ts     the sentence that says why a window scored as it did
//   keys.ts        the bounded table of event keys a subject or pool names its rows by
export { WindowScorer } from './scorer';
export { windowOptionsFrom } from './options';
export type { WindowScorerOptions } from './options';
