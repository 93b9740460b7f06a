import type { Evidence } from './types';

// A session's key-count profile: how many times each key occurs in it, judged key by key
// against how many times it occurred in the training sessions. This is what the event count
// matrix of Xu et al. (SOSP'09) and the count invariants of Lou et al. (2010) see in HDFS: a
// block is written to three data nodes, so most keys occur exactly three times; a session cut
// short, one replicated twice, or one deleted after a re-replication has a count that no normal
// session has, even where every step and every short run of steps is familiar. No next-key
// model sees it, since the count is a property of the whole session.
//
// A key's count in a new session is judged by how rare it is among the key's counts in the
// training sessions: its p-value is the chance that a session's count of the key is one at
// most as frequent as this one. A count never seen gets the chance of a new count, T / (N + T)
// with T distinct counts in N sessions (Witten-Bell), and every count shares in it: a key
// that always occurs three times makes a fourth time very surprising, a key whose count
// varies widely (a retried step) does not, and a count seen once is no more surprising than
// a new one. A key no training session has is a key that always occurred zero times. The
// session's statistic is its least likely key count, as −log p.

export class KeyCountProfile {
  private sessions = 0;
  /** per key: how many training sessions had it c times, for each c seen (0 included) */
  private perKey = new Map<string, Map<number, number>>();

  fit(sessions: readonly (readonly string[])[]): void {
    const seen = new Set<string>();
    for (const keys of sessions) for (const k of keys) seen.add(k);
    this.sessions = sessions.length;
    this.perKey = new Map([...seen].map((k) => [k, new Map<number, number>()]));
    for (const keys of sessions) {
      const counts = countKeys(keys);
      for (const [k, dist] of this.perKey) {
        const c = counts.get(k) ?? 0;
        dist.set(c, (dist.get(c) ?? 0) + 1);
      }
    }
  }

  /** the session's most surprising key count, −log of its probability, with what it was */
  surprise(keys: readonly string[]): Evidence {
    const counts = countKeys(keys);
    const n = this.sessions;
    let value = 0;
    let detail = '';
    const judge = (key: string, c: number) => {
      const dist = this.perKey.get(key) ?? new Map([[0, n]]);
      const had = dist.get(c) ?? 0;
      let asRare = dist.size;
      for (const f of dist.values()) if (f <= had) asRare += f;
      const s = -Math.log(Math.min(1, asRare / (n + dist.size)));
      if (s > value) {
        value = s;
        detail = `key ${key} ${c} times (${had} of ${n} training sessions had it ${c} times)`;
      }
    };
    for (const key of this.perKey.keys()) judge(key, counts.get(key) ?? 0);
    for (const [key, c] of counts) if (!this.perKey.has(key)) judge(key, c);
    return { value, detail };
  }
}

function countKeys(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}
