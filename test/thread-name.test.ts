import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { Worker } from 'worker_threads';

// Every thread of node is named `node`: the scorer and fit threads name themselves, so that
// `top -H` and the watchdog bench's --lag-scorer tell them from V8's threads.

const names = () =>
  fs.readdirSync('/proc/self/task').map((tid) => {
    try {
      return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  });

t.test('a thread that names itself shows under that name in /proc', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const module = path.join(__dirname, '..', 'scorer', 'thread-priority.js');
  const worker = new Worker(
    `const { parentPort } = require('worker_threads'); require(${JSON.stringify(module)}).nameThisThread('anomaly-scorer-and-more'); parentPort.postMessage('named'); setInterval(() => {}, 1000);`,
    { eval: true },
  );
  t.teardown(() => worker.terminate());
  await new Promise((r) => worker.once('message', r));
  t.ok(names().includes('anomaly-scorer-'), 'the name, cut to the kernel’s 15 characters');
});
