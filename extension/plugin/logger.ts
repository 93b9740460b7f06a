import type { Plugin, PluginResponse } from './types';
import { echo } from '../log';

// A logger plugin from plain functions. Requests are told apart by their keys in the order
// osquery's own router checks them (protocol doc §6). Result lines are always answered
// with code 0: osqueryd shuts itself down on any other answer (§6.6).

export interface StatusEntry {
  s: number;
  f: string;
  i: number;
  m: string;
  h?: string;
  c?: string;
  u?: number;
}

export interface LoggerHandlers {
  /** a result line (`string`, each item of `string_batch`) or a snapshot line */
  result(line: string, kind: 'string' | 'snapshot'): void;
  /** a result line too large to read; only its size is known. Answered 0 all the same */
  oversize?(bytes: number): void;
  /** bitmask answered to `features`: 1 = send status logs, 2 = forward event rows */
  features: number;
  init?(processName: string): void;
  status?(entries: StatusEntry[]): void;
  event?(line: string): void;
}

/**
 * items of a string_batch judged in one turn of the event loop; the rest wait for the next
 * turns. Each item is a result line to parse: 8 million one-byte items (16 MB, the most one
 * string may be) took the thread for 77 s in one go, and no ping was answered meanwhile
 */
const BATCH_ITEMS_PER_TURN = 1000;

export function loggerPlugin(name: string, h: LoggerHandlers): Plugin {
  const ok: PluginResponse = { code: 0, message: 'OK', rows: [] };
  return {
    registry: 'logger',
    name,
    routes: () => [],
    call(request, oversize): PluginResponse | Promise<PluginResponse> {
      for (const key of ['string', 'snapshot', 'string_batch']) {
        const bytes = oversize.get(key);
        if (bytes !== undefined) {
          h.oversize?.(bytes);
          return ok;
        }
      }
      if ('string' in request) {
        h.result(request.string, 'string');
        return ok;
      }
      if ('snapshot' in request) {
        h.result(request.snapshot, 'snapshot');
        return ok;
      }
      if ('init' in request) {
        h.init?.(request.init);
        return ok;
      }
      if (request.action === 'features') return { code: h.features, message: 'OK', rows: [] };
      if ('status' in request) {
        let entries: StatusEntry[] = [];
        try {
          const parsed = JSON.parse(request.log ?? '[]');
          if (Array.isArray(parsed)) entries = parsed.filter(isStatusEntry);
        } catch {
          /* a malformed status batch is not worth an error: the core ignores the answer */
        }
        h.status?.(entries);
        return ok;
      }
      if ('event' in request) {
        h.event?.(request.event);
        return ok;
      }
      if ('string_batch' in request) {
        let lines: unknown = [];
        try {
          lines = JSON.parse(request.string_batch);
        } catch {
          lines = [request.string_batch];
        }
        const items: unknown[] = Array.isArray(lines) ? lines : [lines];
        const judge = (from: number) => {
          const to = Math.min(items.length, from + BATCH_ITEMS_PER_TURN);
          for (let i = from; i < to; i++) h.result(typeof items[i] === 'string' ? (items[i] as string) : itemText(items[i]), 'string');
          return to;
        };
        if (judge(0) === items.length) return ok;
        return (async () => {
          for (let at = BATCH_ITEMS_PER_TURN; at < items.length;) {
            await new Promise((r) => setImmediate(r));
            at = judge(at);
          }
          return ok;
        })();
      }
      if ('health' in request) return ok;
      return { code: 1, message: `unknown logger request (keys: ${echo(Object.keys(request).join(', ') || 'none')})` };
    },
  };
}

function isStatusEntry(e: unknown): e is StatusEntry {
  if (!e || typeof e !== 'object') return false;
  const x = e as Record<string, unknown>;
  return typeof x.s === 'number' && typeof x.f === 'string' && typeof x.i === 'number' && typeof x.m === 'string';
}

/**
 * A batch item that is not a string, as text for the ingest to judge (and reject). JSON.parse
 * reads any depth but JSON.stringify recurses: an item nested a few thousand deep threw, and
 * the batch was answered 1, which osqueryd takes for a failed logger and shuts down.
 */
function itemText(item: unknown): string {
  try {
    return JSON.stringify(item) ?? String(item);
  } catch (err) {
    return `(a batch item that cannot be written as JSON: ${(err as Error).message})`;
  }
}
