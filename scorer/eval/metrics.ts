import { BAD_BELOW, GOOD_FROM } from '../calibration';

// Detection metrics at the product's threshold: a unit is flagged when its score is below
// 0.3 (verdict bad). A unit still learning (null score) is never flagged.

export interface ScoredUnit {
  score: number | null;
  /** ranking statistic for the AUC, larger = more anomalous (−log p keeps ties apart) */
  rank: number;
  anomalous: boolean;
  type?: string;
}

export interface Metrics {
  n: number;
  anomalies: number;
  precision: number;
  recall: number;
  f1: number;
  fpr: number;
  auc: number;
  /** fraction of normal units below 0.3, 0.5 and 0.7 (the contract: 0.16 %, 1 %, 6 %) */
  normal_below: { '0.3': number; '0.5': number; '0.7': number };
  per_type?: Record<string, { n: number; recall: number }>;
}

export function metrics(units: readonly ScoredUnit[]): Metrics {
  let tp = 0,
    fp = 0,
    fn = 0,
    tn = 0;
  const normals: number[] = [];
  const perType = new Map<string, { n: number; hit: number }>();
  for (const u of units) {
    const flagged = u.score !== null && u.score < BAD_BELOW;
    if (u.anomalous) {
      if (flagged) tp++;
      else fn++;
      if (u.type) {
        const t = perType.get(u.type) ?? { n: 0, hit: 0 };
        t.n++;
        if (flagged) t.hit++;
        perType.set(u.type, t);
      }
    } else {
      if (flagged) fp++;
      else tn++;
      normals.push(u.score ?? 1);
    }
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const below = (s: number) => (normals.length ? normals.filter((x) => x < s).length / normals.length : 0);
  const out: Metrics = {
    n: units.length,
    anomalies: tp + fn,
    precision: round(precision),
    recall: round(recall),
    f1: round(precision + recall ? (2 * precision * recall) / (precision + recall) : 0),
    fpr: round(fp + tn ? fp / (fp + tn) : 0),
    auc: round(auc(units)),
    normal_below: { '0.3': round(below(BAD_BELOW)), '0.5': round(below(0.5)), '0.7': round(below(GOOD_FROM)) },
  };
  if (perType.size) {
    out.per_type = {};
    for (const [k, v] of [...perType].sort()) out.per_type[k] = { n: v.n, recall: round(v.hit / v.n) };
  }
  return out;
}

/** area under the ROC curve by the rank-sum (Mann-Whitney) statistic, ties counted half */
export function auc(units: readonly ScoredUnit[]): number {
  const sorted = [...units].sort((a, b) => a.rank - b.rank);
  let pos = 0,
    neg = 0,
    rankSum = 0;
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j].rank === sorted[i].rank) j++;
    const midRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (sorted[k].anomalous) {
        pos++;
        rankSum += midRank;
      } else neg++;
    }
    i = j;
  }
  if (!pos || !neg) return 0;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
