import { Calibrator } from '../calibration';
import type { WindowEvidence } from '../types';
import { HOP_FRACTION } from './reference';

// How the statistics of held-out windows (statistics.ts) become a window's score, as a row's
// model evidence becomes a row's (scorer/calibration.ts): a subject's windows are slid over its
// history and overlap, a host pool's are cut and do not.

/**
 * The natural tail width of each statistic, the least scale its extrapolated tail may have:
 * mix and rate are sums of squared z-scores, whose tails decay like e^(−x/2) whatever the
 * held-out sample's body looks like; row evidence is −log10 p, whose chance falls tenfold per
 * unit (e^(−x·ln 10)). It was 1, one decade per e-fold: 2.3 times too wide, so a window of one
 * row scored 0.1 by its own calibration, beyond held-out peaks of 0.5, got p 0.0045 (0.41),
 * never bad, and only the combined statistic's own extrapolation, stronger than its strongest
 * statistic, made it bad.
 */
const TAIL_SCALE: Partial<Record<WindowEvidence, number>> = { mix: 2, rate: 2, peak: 1 / Math.LN10, mean: 1 / Math.LN10 };

/**
 * How a subject's held-out windows become its calibration. Peak and mean are the rows' own
 * −log10 p: the window's p-value from them is never below what they say (a window of one row is
 * that row), and the combined p-value never below the strongest statistic's own.
 */
export function windowCalibrator(heldOut: Partial<Record<WindowEvidence, (number | null)[]>>, overlap = 1 / HOP_FRACTION): Calibrator<WindowEvidence> {
  return new Calibrator<WindowEvidence>(heldOut, TAIL_SCALE, overlap, {}, 'strongest', { logP: ['peak', 'mean'], floorAtStrongest: true });
}
