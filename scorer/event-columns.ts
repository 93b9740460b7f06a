import type { BehaviourEvent } from './types';

// What a subject keeps of its events (scorer/subject.ts: the window it retrains on, the recent
// events it calibrates on): numbered events as columns, bounded in number and in characters.

/** what events of a subject's routine repeat exactly: their key and token lists */
export interface Form {
  key: string;
  values: string[];
  pairs: string[];
}

/** an event and its number in the subject's stream (`e` and `n`, as the state file names them) */
export interface Numbered {
  e: BehaviourEvent;
  n: number;
}

/**
 * Characters a window may hold per event of retrain.window_events, over the whole window (its
 * events' texts and tokens, shared ones counted each time). The most any subject or host
 * baseline of the scenario sets and the real logs holds is ~540 an event (a host baseline's,
 * with its `who=` pairs), and their windows are a fifth of window_events at most; a local
 * user's own events, from paths and with argument lists of their choosing, hold ~9,000 each,
 * every one new: 20,000 of them were 160 MB of heap for one user (rootsafe)
 */
export const WINDOW_CHARS_PER_EVENT = 1_000;

/** the characters an event holds in a window: its text and its tokens */
function charsOf(form: Form, text: string): number {
  let n = text.length + form.key.length;
  for (const v of form.values) n += v.length;
  for (const v of form.pairs) n += v.length;
  return n;
}

/**
 * Numbered events in stream order, as columns: no object per event. A window holds up to
 * retrain.window_events × 1.25 events for each subject and each host baseline, and an event
 * as an object (its Numbered wrapper, the event, two token arrays) was ~355 bytes in a heap
 * snapshot of the watchdog stream, ~100 with the lists shared; here it is four array slots,
 * the form and the text shared with the events that repeat them. Events are made again as
 * objects only for a training or a save, which read them all once.
 */
export class EventColumns {
  forms: Form[] = [];
  texts: string[] = [];
  times: number[] = [];
  ns: number[] = [];
  private sizes: number[] = [];
  /** characters the events hold (charsOf) */
  private chars = 0;

  get length(): number {
    return this.ns.length;
  }

  /** characters the events hold (charsOf) */
  get heldChars(): number {
    return this.chars;
  }

  push(form: Form, text: string, time: number, n: number): void {
    this.forms.push(form);
    this.texts.push(text);
    this.times.push(time);
    this.ns.push(n);
    const size = charsOf(form, text);
    this.sizes.push(size);
    this.chars += size;
  }

  /**
   * Drop the oldest events, keeping the newest `keep` and, of those, no more than hold
   * `maxChars` characters (always the newest one); only once 1.25 times over either, so that
   * the arrays are cut now and then, not at every event
   */
  bound(keep: number, maxChars: number): void {
    if (this.length <= keep * 1.25 && this.chars <= maxChars * 1.25) return;
    let drop = Math.max(0, this.length - keep);
    let chars = this.chars;
    for (let i = 0; i < drop; i++) chars -= this.sizes[i];
    while (drop < this.length - 1 && chars > maxChars) chars -= this.sizes[drop++];
    if (drop <= 0) return;
    this.forms.splice(0, drop);
    this.texts.splice(0, drop);
    this.times.splice(0, drop);
    this.ns.splice(0, drop);
    this.sizes.splice(0, drop);
    this.chars = chars;
  }

  /** the events whose key is not `key` */
  without(key: string): EventColumns {
    const out = new EventColumns();
    for (let i = 0; i < this.length; i++) if (this.forms[i].key !== key) out.push(this.forms[i], this.texts[i], this.times[i], this.ns[i]);
    return out;
  }

  /** event i as the models and the state file take it (the fields in the order the extractor makes them) */
  event(i: number): BehaviourEvent {
    const f = this.forms[i];
    return { key: f.key, values: f.values, pairs: f.pairs, text: this.texts[i], time: this.times[i] };
  }
}

/** the window and the recent events merged in stream order, each event once, as objects */
export function historyOf(window: EventColumns, recent: EventColumns): Numbered[] {
  const out: Numbered[] = [];
  let i = 0;
  let j = 0;
  while (i < window.length || j < recent.length) {
    const a = i < window.length ? window.ns[i] : Infinity;
    const b = j < recent.length ? recent.ns[j] : Infinity;
    if (a < b) out.push({ e: window.event(i++), n: a });
    else if (b < a) out.push({ e: recent.event(j++), n: b });
    else {
      out.push({ e: window.event(i), n: a });
      i++;
      j++;
    }
  }
  return out;
}

/** the events as the state file holds them */
export function numberedOf(events: EventColumns): Numbered[] {
  const out = new Array<Numbered>(events.length);
  for (let i = 0; i < events.length; i++) out[i] = { e: events.event(i), n: events.ns[i] };
  return out;
}
