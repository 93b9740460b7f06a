import { scoreFromP, verdictOf } from './calibration';
import type { SubjectVerdict } from './subject';
import type { BehaviourEvent } from './types';

// Hierarchical baselines (design.md, "Baselines: no blind subjects"). A subject still
// learning is scored against what its host does as a whole (the host baseline: every
// subject of the host pooled) and, when one is loaded, against a fleet prior (the same
// models trained over many hosts). The pooled models see who acted as a feature, so the
// first activity of an account never seen on the host, or an account doing what it never
// did, is evidence of its own; a subject with little history is not blind. The first
// activity is evidence once: the pool records every account it sees act, whatever the
// verdict (rarity's `witness`), and judges a new account's later rows by what they do.

/** the subject name a pooled baseline is kept under: every subject `*` of a host, or of the fleet */
export const FLEET_SUBJECT = '*@*';
export function hostBaselineName(host: string): string {
  return `*@${host}`;
}
export function isBaselineName(name: string): boolean {
  return name.startsWith('*@');
}

/**
 * The model key of a row's subject. Users are per host unless the config pools them; the
 * `host` subject (daemons, rows with no user) is always per host.
 */
export function subjectKey(subject: string, host: string, perHostUsers: boolean): string {
  return perHostUsers || subject === 'host' ? `${subject}@${host}` : subject;
}

/**
 * Coarse fields paired with the acting identity in a pooled baseline. Pairing every value
 * would make every event of a sparse account look new; these say what kind of thing the
 * account does (runs which program, from where, talks to what kind of address, listens) and
 * when (the three-hour block: an account at work at an hour it never is, as a hint like any
 * time value).
 */
const PAIRED_WITH_IDENTITY = ['kind=', 'exe=', 'exeloc=', 'net=', 'session=', 'lport=', 'src=', 'tty=', 'priv=', 'lineage=', 'parentloc=', 'hour='];

/** the event as a pooled baseline sees it: the same tokens, plus who acted and what they did */
export function withIdentity(event: BehaviourEvent, who: string): BehaviourEvent {
  const id = `who=${who}`;
  const pairs = event.pairs.slice();
  for (const v of event.values) if (PAIRED_WITH_IDENTITY.some((f) => v.startsWith(f))) pairs.push(`${id}>${v}`);
  // no command-line text: character statistics pooled over every account of a host say
  // only how unlike the busiest account a line is, and make the pooled normal look erratic
  return { key: event.key, values: [...event.values, id], pairs, text: '', command: event.text, time: event.time };
}

export interface BaselineVerdict {
  /** `host` or `fleet`: names the baseline in the `model` column */
  baseline: string;
  verdict: SubjectVerdict;
}

/**
 * One verdict from the baselines that could score the event. Each obeys the contract on its
 * own; taking the stronger of k is corrected Bonferroni-style (p·k), so the combined score
 * still satisfies P(score < s) ≤ 10^(−4(1−s)) on normal rows.
 */
export function combineBaselines(candidates: readonly BaselineVerdict[]): SubjectVerdict | null {
  const ready = candidates.filter((c) => c.verdict.score !== null);
  if (!ready.length) return null;
  let best = ready[0];
  for (const c of ready) if ((c.verdict.score as number) < (best.verdict.score as number)) best = c;
  const p = Math.min(1, pFromScore(best.verdict.score as number) * ready.length);
  const score = ready.length === 1 ? (best.verdict.score as number) : scoreFromP(p);
  return {
    score,
    verdict: verdictOf(score),
    model: best.verdict.model ? `${best.baseline}:${best.verdict.model}` : best.baseline,
    reasons: best.verdict.reasons,
  };
}

function pFromScore(score: number): number {
  return Math.pow(10, 4 * (score - 1));
}
