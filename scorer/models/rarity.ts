import { CharModel, type CharState } from '../features/chars';
import type { BehaviourEvent, Evidence, Model, ModelState, ScoringInput } from '../types';

// The rarity baseline: how surprising each generalised value, value pair and key n-gram is
// in this subject's history. Surprise is measured against the field's own typical surprise,
// so a field where new values are everyday (file paths of a developer) does not drown out a
// field where they never happen (the binaries a service account runs). Counts decay with a
// half-life in events so old habits fade; learning is online (observe) between retrainings.

export interface RarityOptions {
  halfLifeEvents: number;
  maxTokensPerField: number;
  /**
   * longest context, in preceding keys, whose n-gram is counted. A user's stream keeps 1
   * (longer n-grams of interleaved activity are mostly unique); the strictly ordered
   * sessions of a log data set benefit from 4.
   */
  ngram: number;
}

const DEFAULTS: RarityOptions = { halfLifeEvents: 50_000, maxTokensPerField: 20_000, ngram: 1 };
const VERSION = 1;
/** surprise given to the very first value of a field nobody has seen a value of */
const EMPTY_FIELD_BITS = 4;

class FieldStats {
  counts = new Map<string, number>();
  /** sum of counts (stored scale) */
  total = 0;
  /** running mean of the surprise of observed values, in bits: the field's normal surprise */
  typical = 0;
  seen = 0;
}

export class RarityModel implements Model {
  readonly name = 'rarity' as const;
  private fields = new Map<string, FieldStats>();
  private chars = new CharModel();
  private textTypical = 0;
  private textSeen = 0;
  /** weight of the next observation in stored scale; grows instead of decaying every count */
  private inc = 1;
  private readonly growth: number;
  private events = 0;
  private readonly opts: RarityOptions;

  constructor(opts: Partial<RarityOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    this.growth = Math.pow(2, 1 / this.opts.halfLifeEvents);
  }

  async fit(sequences: readonly (readonly BehaviourEvent[])[]): Promise<void> {
    for (const seq of sequences) for (let i = 0; i < seq.length; i++) this.observe(seq[i], seq.slice(Math.max(0, i - this.opts.ngram), i));
  }

  observe(event: BehaviourEvent, context: readonly BehaviourEvent[]): void {
    const tokens = tokensOf(event, context, this.opts.ngram);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      const f = this.field(fieldOf(t));
      const s = this.surprise(f, t);
      f.typical = f.seen === 0 ? s : f.typical + (s - f.typical) / Math.min(f.seen + 1, 1000);
      f.seen++;
      f.counts.set(t, (f.counts.get(t) ?? 0) + this.inc);
      f.total += this.inc;
      if (f.counts.size > this.opts.maxTokensPerField) evictRarest(f);
    }
    if (event.text) {
      const s = this.chars.surprise(event.text);
      this.textTypical = this.textSeen === 0 ? s : this.textTypical + (s - this.textTypical) / Math.min(this.textSeen + 1, 1000);
      this.textSeen++;
      this.chars.observe(event.text);
    }
    this.events++;
    this.inc *= this.growth;
    if (this.inc > 1e12) this.rescale();
  }

  private field(name: string): FieldStats {
    let f = this.fields.get(name);
    if (!f) this.fields.set(name, (f = new FieldStats()));
    return f;
  }

  /** Witten-Bell: a value seen c times has c/(N+D); a new value shares D/(N+D) */
  private surprise(f: FieldStats, token: string): number {
    const c = f.counts.get(token);
    const d = f.counts.size;
    if (f.total === 0) return EMPTY_FIELD_BITS;
    const n = f.total / this.inc; // effective number of observations
    // a value never seen is a little rarer than one seen once
    const p = c === undefined ? 1 / (n + d + 1) : c / this.inc / (n + d);
    return -Math.log2(p);
  }

  async score(batch: readonly ScoringInput[]): Promise<Evidence[]> {
    const out: Evidence[] = new Array(batch.length);
    for (let b = 0; b < batch.length; b++) {
      const { event, context } = batch[b];
      const tokens = tokensOf(event, context, this.opts.ngram);
      let best = 0, second = 0, timeBest = 0;
      let bestToken = '';
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        const f = this.fields.get(fieldOf(t));
        const excess = f ? this.surprise(f, t) - f.typical : EMPTY_FIELD_BITS;
        // when something happens only modifies what happens: a first weekend, an odd hour
        // alone is a hint, not an alert
        if (isTimeField(t)) {
          if (excess > timeBest) timeBest = excess;
        } else if (excess > best) {
          second = best;
          best = excess;
          bestToken = t;
        } else if (excess > second) second = excess;
      }
      let textExcess = 0;
      if (event.text && this.textSeen > 0) {
        // bits per character above the usual, weighed by length: a long odd blob counts more
        textExcess = (this.chars.surprise(event.text) - this.textTypical) * Math.sqrt(Math.min(event.text.length, 400));
      }
      const value = best + 0.5 * second + 0.2 * timeBest + Math.max(0, textExcess - best) * 0.5;
      const odd = textExcess > 3 ? `command line ${truncate(event.text)} is unlike the usual ones` : '';
      const rare = best > 1 ? this.describe(bestToken) : '';
      out[b] = { value, detail: [rare, odd].filter(Boolean).join('; ') };
    }
    return out;
  }

  private describe(token: string): string {
    if (!token) return '';
    const field = fieldOf(token);
    const f = this.fields.get(field);
    const c = f?.counts.get(token);
    const times = c === undefined ? 0 : Math.round(c / this.inc);
    const history = `${this.events.toLocaleString('en-US')} events`;
    const what = describeToken(token);
    if (c === undefined) return `${what} never seen before (in ${history})`;
    return `${what} seen ${times <= 1 ? 'once' : `${times} times`} in ${history}`;
  }

  private rescale(): void {
    for (const f of this.fields.values()) {
      for (const [k, c] of f.counts) f.counts.set(k, c / this.inc);
      f.total /= this.inc;
    }
    this.inc = 1;
  }

  toState(): ModelState {
    const fields: Record<string, { counts: Array<[string, number]>; total: number; typical: number; seen: number }> = {};
    for (const [name, f] of this.fields) fields[name] = { counts: [...f.counts], total: f.total, typical: f.typical, seen: f.seen };
    return { name: 'rarity', version: VERSION, opts: this.opts, fields, inc: this.inc, events: this.events, chars: this.chars.toState(), textTypical: this.textTypical, textSeen: this.textSeen };
  }

  static fromState(s: ModelState): RarityModel {
    if (s.version !== VERSION) throw new Error(`rarity model state version ${s.version}, this build reads ${VERSION}`);
    const m = new RarityModel(s.opts as RarityOptions);
    const fields = s.fields as Record<string, { counts: Array<[string, number]>; total: number; typical: number; seen: number }>;
    for (const [name, f] of Object.entries(fields)) {
      const st = m.field(name);
      st.counts = new Map(f.counts);
      st.total = f.total;
      st.typical = f.typical;
      st.seen = f.seen;
    }
    m.inc = s.inc as number;
    m.events = s.events as number;
    m.chars = CharModel.fromState(s.chars as CharState);
    m.textTypical = s.textTypical as number;
    m.textSeen = s.textSeen as number;
    return m;
  }
}

/** the event's values and pairs plus the key n-grams ending in it, up to `ngram` keys back */
function tokensOf(event: BehaviourEvent, context: readonly BehaviourEvent[], ngram: number): string[] {
  const tokens = event.values.concat(event.pairs);
  const n = context.length;
  let path = event.key;
  for (let k = 1; k <= ngram; k++) {
    // at a sequence's start the missing keys are part of the n-gram: `^` marks the start
    // ⇒ joins the keys: event keys themselves contain '>' and '='
    path = `${n - k >= 0 ? context[n - k].key : '^'}${STEP}${path}`;
    tokens.push(`next${k}=${path}`);
    if (n - k < 0) break;
  }
  return tokens;
}

const STEP = '\u21d2';

function isTimeField(token: string): boolean {
  return token.startsWith('hour=') || token.startsWith('day=') || token.startsWith('kind=') && token.includes('>hour=');
}

/** `exe=/usr/bin/nc` → exe; `parent=/bin/bash>exe=/usr/bin/nc` → parent>exe */
function fieldOf(token: string): string {
  if (token.startsWith('next') && token[5] === '=') return token.slice(0, 5);
  const eq = token.indexOf('=');
  const gt = token.indexOf('>', eq);
  if (gt < 0) return token.slice(0, eq);
  const eq2 = token.indexOf('=', gt);
  return eq2 < 0 ? token.slice(0, eq) : `${token.slice(0, eq)}>${token.slice(gt + 1, eq2)}`;
}

const FIELD_NAMES: Record<string, string> = {
  exe: 'program', parent: 'parent', cmd: 'command', raddr: 'remote address', rport: 'remote port', lport: 'local port', src: 'login source',
  tty: 'terminal', path: 'path', action: 'action', hour: 'time of day', day: 'day type', kind: 'kind of event', cwd: 'working directory', key: 'event',
};

function describeToken(token: string): string {
  if (/^next\d=/.test(token)) return `the steps \`${token.slice(6).split(STEP).join('` → `')}\``;
  const parts = token.split('>');
  const shown = parts.map((p) => {
    const eq = p.indexOf('=');
    const field = p.slice(0, eq);
    return `${FIELD_NAMES[field] ?? field} \`${p.slice(eq + 1)}\``;
  });
  return shown.length === 1 ? shown[0] : `${shown[0]} with ${shown.slice(1).join(' with ')}`;
}

function evictRarest(f: FieldStats): void {
  const entries = [...f.counts].sort((a, b) => a[1] - b[1]);
  const drop = Math.ceil(entries.length * 0.1);
  for (let i = 0; i < drop; i++) {
    f.counts.delete(entries[i][0]);
    f.total -= entries[i][1];
  }
}

function truncate(s: string): string {
  return `\`${s.length > 60 ? `${s.slice(0, 57)}...` : s}\``;
}
