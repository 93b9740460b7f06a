import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { resolveConfig } from '../conf/config';
import { ExtensionClient } from '../extension/client';
import { startServer } from '../extension/server';
import { createScoringService } from '../scorer/service';

// Training runs in the scorer's worker thread: while it trains, the extension's event loop
// keeps answering pings. Measured as behaviour, not time: pings keep completing during a
// training that itself takes a while.

t.test('pings are answered while the worker trains', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-worker-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = resolveConfig({ state_dir: dir, learning: { min_events: 2500, min_days: 0 } }, 'test', {});
  const service = await createScoringService({ config, log: () => {}, modelOptions: { lstm: { epochs: 12, units: 64 } } });
  const socket = path.join(dir, 'ext.sock');
  const server = await startServer({ path: socket, plugins: [], onShutdown: () => {}, log: () => {} });
  t.teardown(() => server.close());

  const lines = Array.from({ length: 2600 }, (_, i) =>
    JSON.stringify({
      name: 'pack_user-behavior_process_events',
      hostIdentifier: 'h',
      unixTime: 1_790_000_000 + i * 30,
      action: 'added',
      decorations: {},
      columns: { pid: String(i), path: `/usr/bin/tool${i % 23}`, cmdline: `tool${i % 23} --x ${i % 5}`, auid: '1000', parent: '1' },
    }),
  );
  let training = true;
  const scoring = service.score(lines).finally(() => (training = false));
  let pings = 0;
  const started = Date.now();
  while (training) {
    // no short timeout: the count of answered pings is the measure; a blocked loop would answer
    // this one only when training is over, and the loop would end with one ping
    const pong = await new ExtensionClient(socket).ping();
    if (pong.code === 0) pings++;
    await new Promise((r) => setTimeout(r, 20));
  }
  await scoring;
  const seconds = (Date.now() - started) / 1000;
  t.ok(
    service.models().some((m) => m.state === 'monitoring'),
    'the subject trained and is monitoring',
  );
  t.ok(pings >= 10, `${pings} pings answered during ${seconds.toFixed(1)} s of scoring and training`);
  await service.close();
});
