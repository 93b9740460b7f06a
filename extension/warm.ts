import { mainThreadCpuClock } from '../scorer/thread-cpu';
import type { LogFn } from './log';
import type { ExtensionServer } from './server';

// A process's first answers run code V8 has not compiled yet: the table's generator, the
// store's filter, the rows and the writer that encodes them run in the interpreter until V8
// has seen them enough to optimise them, at several times the warm cost (the alert query's
// answer over a million retained rows, in a fresh anomaly.ext: 9–12 ms of the main thread's
// CPU on its first call against 3–4 ms warm; docs/benchmarks.md).
// osqueryd's first scheduled alert query should not pay for that, so once the extension
// is registered it rehearses that answer a few times: the same plugin call, the same rows
// and the same encoding, into a writer that is thrown away (so it marks no row answered: an
// answer's commit runs only from the write of its reply, PluginResponse.delivered). It runs
// on the event loop in slices (a turn between rehearsals, and one every 64 rows inside them),
// so pings and calls that arrive meanwhile are answered as usual; the first table call from
// osqueryd ends it (that call compiles the same code, and must not share the CPU with a
// rehearsal). Its cost is bounded by a number of rehearsals, of rows in each, and of the main thread's CPU time altogether.

export interface WarmUpCall {
  registry: string;
  item: string;
  request: Record<string, string>;
}

export interface WarmUpOptions {
  /** rehearsals of each call at most */
  rounds: number;
  /** rows of one rehearsal at most */
  maxRows: number;
  /**
   * stop once the rehearsals have taken this long: ms of the main thread's CPU time inside
   * them. Not the process's CPU time, which counts the scorer thread, busy at start-up too;
   * not wall time, which on a loaded host runs on while the thread waits for a core (at load
   * 13 on 2 cores, 4 rehearsals of 300 rows spent 400 ms of it, and the other 4 were skipped)
   */
  maxMs: number;
}

export const WARM_UP: WarmUpOptions = { rounds: 8, maxRows: 2000, maxMs: 400 };

/** `SELECT * FROM anomaly_scores WHERE score < 0.3`, as osqueryd's context describes it (protocol doc §5.3) */
export const ALERT_QUERY: WarmUpCall = {
  registry: 'table',
  item: 'anomaly_scores',
  request: {
    action: 'generate',
    context: JSON.stringify({
      constraints: [{ name: 'score', list: [{ op: 16, expr: '0.3' }], affinity: 'DOUBLE' }],
      colsUsed: ['id', 'time', 'host', 'subject', 'query', 'action', 'event', 'score', 'verdict', 'model', 'reasons', 'columns'],
      colsUsedBitset: 4095,
    }),
  },
};

export interface WarmUpResult {
  rehearsals: number;
  rows: number;
  ms: number;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

/**
 * rehearse the calls until the rounds, or the CPU allowance, are spent, or osqueryd calls a
 * table; never throws. `cpuMs`: the main thread's CPU clock (tests inject one)
 */
export async function warmUp(
  server: ExtensionServer,
  calls: readonly WarmUpCall[],
  opts: WarmUpOptions,
  log: LogFn,
  cpuMs: () => number = mainThreadCpuClock(),
): Promise<WarmUpResult> {
  const result: WarmUpResult = { rehearsals: 0, rows: 0, ms: 0 };
  const tableCalls = server.tableCalls;
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const call of calls) {
        await turn();
        if (result.ms >= opts.maxMs || server.tableCalls !== tableCalls) return result;
        const t0 = cpuMs();
        const rows = await server.rehearse(call.registry, call.item, call.request, opts.maxRows);
        result.ms += cpuMs() - t0;
        // an empty table or a refused answer leaves nothing to compile; null is also a
        // rehearsal that gave way to osqueryd's own call
        if (!rows) return result;
        result.rehearsals++;
        result.rows += rows;
      }
    }
    return result;
  } catch (err) {
    log('debug', `warm-up: ${(err as Error).message}`);
    return result;
  } finally {
    log('info', `warm-up: ${result.rehearsals} rehearsals, ${result.rows} rows, ${result.ms.toFixed(0)} ms of CPU`);
  }
}
