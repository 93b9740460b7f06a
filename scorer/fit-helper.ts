import * as path from 'path';
import { Worker } from 'worker_threads';
import type { FitReply, FitRequest } from './fit-thread';
import { pacer } from './pacing';
import type { BehaviourEvent, Model, ModelName, ModelState } from './types';
import { loadModel } from './models';

// A second core for training (budget.training_threads: 2). A subject's training fits its
// models one after the other in the scorer thread, and the LSTM's fit is most of it (the
// demo's stream in one thread: 24.9 s of 28.8 s of CPU). The SVM, the rarity folds and the
// calibration do not depend on it, so when the scorer is not paced the LSTM is fitted in a
// helper thread while the scorer thread fits the others: a training takes the longer of the
// two instead of their sum. Paced (osqueryd's watchdog watches the extension), everything
// stays in the scorer thread, whose pacer slices the LSTM's training batch by batch: a
// helper's CPU would be charged to the same budget without being sliced by it.
//
// The helper runs the same code on the same backend with the same seeds, so it returns the
// model the scorer thread would have fitted (test/fit-helper.test.ts). It is started on first
// use and does not keep the process alive; if it fails, fits go back to the scorer thread.
// It costs a second V8 isolate and tfjs heap: about 100 MB more resident memory after its
// first fit (3,039 events), which is why it is not the default.

/** models whose fit is worth a thread: long and independent of the subject's other models */
const OFFLOADED: ReadonlySet<ModelName> = new Set(['lstm']);

let helper: Helper | null = null;

/** the fit itself failed in the helper (as it would have here), as opposed to the helper */
class FitFailed extends Error {}
/** set when the helper failed: fits stay in the scorer thread from then on */
let broken = false;

class Helper {
  private readonly worker: Worker;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (s: ModelState) => void; reject: (e: Error) => void }>();

  constructor() {
    this.worker = new Worker(path.join(__dirname, 'fit-thread.js'));
    this.worker.unref();
    this.worker.on('message', (reply: FitReply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if ('state' in reply) w.resolve(reply.state);
      else w.reject(new FitFailed(reply.error));
    });
    const fail = (err: Error) => {
      broken = true;
      helper = null;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`fit helper exited (status ${code})`)));
  }

  fit(req: Omit<FitRequest, 'id'>): Promise<ModelState> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // a waiting fit keeps the process alive; an idle helper does not
      this.worker.ref();
      this.worker.postMessage({ ...req, id } satisfies FitRequest);
    }).finally(() => {
      if (this.waiting.size === 0) this.worker.unref();
    }) as Promise<ModelState>;
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** whether fitting `name` now goes to the helper thread */
export function fitsElsewhere(name: ModelName): boolean {
  return OFFLOADED.has(name) && !broken && pacer.current === null;
}

/**
 * Fit a model of `name` in the helper thread and restore it here; `previous` is the model it
 * replaces. Falls back to fitting `local` in this thread if the helper cannot be used.
 */
export async function fitInHelper(
  name: ModelName,
  options: Record<string, unknown>,
  sequences: BehaviourEvent[][],
  previous: Model | undefined,
  local: () => Promise<Model>,
): Promise<Model> {
  let state: ModelState;
  try {
    helper ??= new Helper();
    state = await helper.fit({ name, options, sequences, previous: previous?.toState() ?? null });
  } catch (err) {
    if (err instanceof FitFailed) throw new Error(err.message);
    broken = true;
    return local();
  }
  return loadModel(state);
}

/** stop the helper thread, if one was started (tests, and a scorer that closes) */
export async function stopFitHelper(): Promise<void> {
  const h = helper;
  helper = null;
  await h?.terminate();
}
