import { parentPort } from 'worker_threads';
import { createModel, loadModel, selectBackend } from './models';
import { nameThisThread, yieldCpuToTheProtocolThread } from './thread-priority';
import type { BehaviourEvent, ModelName, ModelState } from './types';

// A helper thread that fits one model at a time for the scorer thread (fit-helper.ts): the
// same code, the same backend and the same seeds as a fit in the scorer thread, so the
// state it returns is the model that thread would have trained.

export interface FitRequest {
  id: number;
  name: ModelName;
  options: Record<string, unknown>;
  sequences: BehaviourEvent[][];
  /** the model being replaced, which a retraining starts from */
  previous: ModelState | null;
}

export type FitReply = { id: number; state: ModelState } | { id: number; error: string };

const port = parentPort;
if (port) {
  // a second training core must not take the first from the thread that answers osqueryd
  yieldCpuToTheProtocolThread();
  nameThisThread('anomaly-fit');
  port.on('message', (req: FitRequest) => {
    void (async () => {
      try {
        await selectBackend();
        const previous = req.previous ? loadModel(req.previous) : undefined;
        const model = createModel(req.name, req.options);
        try {
          await model.fit(req.sequences, previous);
          port.postMessage({ id: req.id, state: model.toState() } satisfies FitReply);
        } finally {
          model.dispose?.();
          previous?.dispose?.();
        }
      } catch (err) {
        port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) } satisfies FitReply);
      }
    })();
  });
}
