// Character-level rarity of command lines: Tarkin's letter-frequency idea and Elastic's
// command-line entropy job. A subject's commands have a character texture (paths, flags,
// words); base64 or hex blobs, packed one-liners and obfuscation do not share it.

const A = 96; // printable ASCII 32..126 plus one bucket for everything else
const OTHER = 95;

function bucket(code: number): number {
  return code >= 32 && code <= 126 ? code - 32 : OTHER;
}

export interface CharState {
  unigram: number[];
  bigram: number[];
  total: number;
}

export class CharModel {
  private unigram = new Float64Array(A);
  private bigram = new Float64Array(A * A);
  private total = 0;

  observe(text: string): void {
    let prev = -1;
    for (let i = 0; i < text.length && i < 4096; i++) {
      const b = bucket(text.charCodeAt(i));
      this.unigram[b]++;
      if (prev >= 0) this.bigram[prev * A + b]++;
      prev = b;
    }
    this.total += Math.min(text.length, 4096);
  }

  /**
   * Mean surprise in bits per character under the subject's character bigrams, smoothed
   * towards its unigrams. Short texts are shrunk towards the typical surprise because a
   * few characters say little.
   */
  surprise(text: string): number {
    if (!text) return 0;
    const V = A;
    let bits = 0;
    let prev = -1;
    const n = Math.min(text.length, 4096);
    for (let i = 0; i < n; i++) {
      const b = bucket(text.charCodeAt(i));
      const pu = (this.unigram[b] + 0.5) / (this.total + 0.5 * V);
      let p = pu;
      if (prev >= 0) {
        const row = this.unigram[prev];
        const lambda = row / (row + 5);
        p = lambda * (this.bigram[prev * A + b] / Math.max(row, 1)) + (1 - lambda) * pu;
      }
      bits -= Math.log2(p);
      prev = b;
    }
    return bits / n;
  }

  toState(): CharState {
    return { unigram: Array.from(this.unigram), bigram: sparse(this.bigram), total: this.total };
  }

  static fromState(s: CharState): CharModel {
    const m = new CharModel();
    m.unigram.set(s.unigram);
    for (let i = 0; i < s.bigram.length; i += 2) m.bigram[s.bigram[i]] = s.bigram[i + 1];
    m.total = s.total;
    return m;
  }
}

function sparse(a: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i]) out.push(i, a[i]);
  return out;
}
