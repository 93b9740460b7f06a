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

export function loggerPlugin(name: string, h: LoggerHandlers): Plugin {
  const ok: PluginResponse = { code: 0, message: 'OK', rows: [] };
  return {
    registry: 'logger',
    name,
    routes: () => [],
    call(request, oversize): PluginResponse {
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
        for (const line of Array.isArray(lines) ? lines : [lines]) h.result(typeof line === 'string' ? line : itemText(line), 'string');
        return ok;
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
