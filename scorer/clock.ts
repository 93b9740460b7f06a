// Row times come from the host's clock, which can be wrong: a board without a real-time clock
// boots in 1970 and logs until NTP answers; a clock set years ahead, or a hand-made log given
// to 'anomaly score', dates rows up to year 9999. Such a row is still scored; it only must not
// say how long a subject has been learnt, when it last trained, or how far windows have got.

/** 2001-09-09: osquery did not exist before, and a clock that was never set reads 1970 */
export const EARLIEST_PLAUSIBLE = 1_000_000_000;
/** how far ahead of the wall clock a row may be dated (hosts' clocks and time zones drift) */
export const AHEAD_PLAUSIBLE = 86_400;

/** the latest time a row may be dated and count as when it happened */
export function latestPlausible(now = Date.now() / 1000): number {
  return now + AHEAD_PLAUSIBLE;
}

/** whether a row's time may count as when it happened */
export function plausibleTime(time: number, now = Date.now() / 1000): boolean {
  return time >= EARLIEST_PLAUSIBLE && time <= latestPlausible(now);
}
