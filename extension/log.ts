// The extension's log: one line per message on stderr, which osqueryd (or systemd) keeps.
// Text that came from outside (plugin names, osqueryd's status lines, rejected values) is
// escaped and shortened before it is written, so nobody can forge or flood log lines.

import type { LogFn, LogLevel } from '../conf/log';
import { hiddenChars, jsonEscape } from './hidden-chars';

export type { LogFn };
export type Level = LogLevel;

const LEVELS: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const MAX_MESSAGE = 2000;
const MAX_ECHO = 200;

const LOG_HIDDEN = hiddenChars('\\x00-\\x1f');

/**
 * control characters (newlines above all) become visible escapes: C0 and the hidden
 * characters of hidden-chars.ts (C1: NEL U+0085 is a line break to some log readers, CSI
 * U+009B an escape sequence to xterm; separators, bidi controls, characters that draw
 * nothing), as the CLI's cellText escapes them
 */
export function escapeControl(text: string): string {
  return text.replace(LOG_HIDDEN, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : jsonEscape(c)));
}

/** a value from outside, quoted and cut to a few hundred bytes for a log line or a status */
export function echo(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}… (${text.length} chars)` : text;
  return JSON.stringify(cut);
}

export function makeLog(min: Level, write: (line: string) => void = (line) => void process.stderr.write(line)): LogFn {
  return (level, msg) => {
    if (LEVELS[level] < LEVELS[min]) return;
    const text = msg.length > MAX_MESSAGE ? `${msg.slice(0, MAX_MESSAGE)}… (${msg.length} chars)` : msg;
    write(`${new Date().toISOString()} anomaly.ext[${process.pid}] ${level.toUpperCase()} ${escapeControl(text)}\n`);
  };
}

/**
 * At most one message per kind per period; the next one says how many were held back. For
 * errors that repeat with every request (a full disk, a flood of bad lines).
 */
export class Throttled {
  private readonly last = new Map<string, { at: number; held: number }>();
  constructor(
    private readonly log: LogFn,
    private readonly periodMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  say(kind: string, level: Level, msg: string): void {
    const t = this.now();
    const seen = this.last.get(kind);
    if (seen && t - seen.at < this.periodMs) {
      seen.held++;
      return;
    }
    this.log(level, seen?.held ? `${msg} (and ${seen.held} more like it since)` : msg);
    this.last.set(kind, { at: t, held: 0 });
    if (this.last.size > 1000) this.last.clear();
  }
}
