import * as fs from 'fs';
import * as path from 'path';
import type * as Tf from '@tensorflow/tfjs';
import { ConfigError } from '../../conf/config';
import { installWasmSlice } from './wasm-slice';

// The fastest TensorFlow.js backend present at run time: tfjs-node (native libtensorflow,
// an optional dependency whose install needs a download), else WebAssembly, else plain JS.
// ANOMALY_TF_BACKEND=tfjs-node|wasm|cpu forces one. The name is what anomaly_models reports.

export type BackendName = 'tfjs-node' | 'wasm' | 'cpu';

let chosen: Promise<BackendName> | null = null;

/**
 * TensorFlow.js itself, loaded on the first call. It is the one place the package is loaded at
 * run time outside the LSTM's own modules (lstm.ts, lstm-inference.ts, contexts.ts, which
 * models/index.ts loads only when an LSTM is built or restored): loading tfjs costs a process
 * about 0.12 s of CPU, which every CLI start, `--help`, `report`, `status` and a config without the
 * LSTM paid for nothing (docs/benchmarks.md, "Loading TensorFlow.js only for an LSTM").
 */
export function tfjs(): typeof Tf {
  return require('@tensorflow/tfjs') as typeof Tf;
}

// A package missing from the install's node_modules, as the optional tfjs-node usually is, is
// looked for by a bare require in every folder above the install up to /node_modules: whoever
// can create a node_modules in one of them (a /tmp, a group-writable /opt) would run code as
// root. A path names the install's own copy and nothing else.
const INSTALLED_TFJS_NODE = path.join(__dirname, '..', '..', '..', 'node_modules', '@tensorflow', 'tfjs-node');
const NAMES: readonly string[] = ['tfjs-node', 'wasm', 'cpu'] satisfies BackendName[];

export function selectBackend(): Promise<BackendName> {
  chosen ??= choose();
  return chosen;
}

async function choose(): Promise<BackendName> {
  const forced = process.env.ANOMALY_TF_BACKEND || undefined;
  if (forced !== undefined && !NAMES.includes(forced)) throw new ConfigError('ANOMALY_TF_BACKEND', '', `${forced} names no backend (${NAMES.join(', ')})`);
  const order = forced ? [forced as BackendName] : (NAMES as BackendName[]);
  const tf = tfjs();
  for (const name of order) {
    try {
      if (name === 'tfjs-node') {
        require(INSTALLED_TFJS_NODE);
        if (await tf.setBackend('tensorflow')) return name;
      } else if (name === 'wasm') {
        require('@tensorflow/tfjs-backend-wasm');
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          installWasmSlice(tf);
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

const NATIVE_HINT = 'for the native one, run `npm install @tensorflow/tfjs-node` in the install folder, which downloads libtensorflow';

/**
 * One line saying which backend runs, the first time a state directory sees it (and again when
 * it changes), so an install that silently skipped the optional tfjs-node says so once rather
 * than on every start or line. The last backend announced is kept in `<stateDir>/tfjs-backend`.
 */
export function announceBackend(name: BackendName, stateDir: string, log: (level: 'info', msg: string) => void): void {
  const file = path.join(stateDir, 'tfjs-backend');
  let last = '';
  try {
    last = fs.readFileSync(file, 'utf8').trim();
  } catch {
    /* first run here */
  }
  if (last === name) return;
  log('info', `tfjs backend: ${name}${name === 'tfjs-node' ? '' : `; ${NATIVE_HINT}`}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    fs.writeSync(fd, `${name}\n`);
  } catch {
    /* a read-only state directory only means the line comes again next time */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
