import * as tf from '@tensorflow/tfjs';

// The fastest TensorFlow.js backend present at run time: tfjs-node (native libtensorflow,
// an optional dependency whose install needs a download), else WebAssembly, else plain JS.
// ANOMALY_TF_BACKEND=tfjs-node|wasm|cpu forces one. The name is what anomaly_models reports.

export type BackendName = 'tfjs-node' | 'wasm' | 'cpu';

let chosen: Promise<BackendName> | null = null;

export function selectBackend(): Promise<BackendName> {
  chosen ??= choose();
  return chosen;
}

async function choose(): Promise<BackendName> {
  const forced = process.env.ANOMALY_TF_BACKEND as BackendName | undefined;
  const order: BackendName[] = forced ? [forced] : ['tfjs-node', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      if (name === 'tfjs-node') {
        require('@tensorflow/tfjs-node');
        if (await tf.setBackend('tensorflow')) return name;
      } else if (name === 'wasm') {
        require('@tensorflow/tfjs-backend-wasm');
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          return name;
        }
      } else if (await tf.setBackend('cpu')) {
        return name;
      }
    } catch {
      /* not installed or not loadable here: try the next one */
    }
  }
  throw new Error(`no TensorFlow.js backend could be started${forced ? ` (ANOMALY_TF_BACKEND=${forced})` : ''}`);
}
