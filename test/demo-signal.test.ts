import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { DIST } from './helpers/paths';

// A demo ended by a signal while lines flow (kill, a closed terminal) left its extension
// running as an orphan: it pinged on until its --timeout, or for good when the next demo into
// the same --out bound the manager socket again in time. The demo now takes it along.

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  t.test(`${signal} to the demo ends its extension with it`, async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-demo-signal-'));
    t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
    const demo = spawn(process.execPath, [path.join(DIST, 'cli', 'main.js'), 'demo', '--out', out, '--days', '4', '--quiet'], { stdio: 'ignore' });
    const exited = new Promise<string | null>((resolve) => demo.once('exit', (_code, sig) => resolve(sig)));
    // the extension holds the state lock (its pid first) once it runs, and registers after
    const lock = path.join(out, 'state', 'lock');
    const osq = path.join(out, 'osquery');
    let pid = 0;
    while (!pid || !(fs.existsSync(osq) && fs.readdirSync(osq).some((f) => /^osquery\.em\.\d+$/.test(f)))) {
      if (demo.exitCode !== null) break;
      if (!pid && fs.existsSync(lock)) pid = Number(/\d+/.exec(fs.readFileSync(lock, 'utf8'))?.[0] ?? 0);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(pid > 0 && alive(pid), 'the extension runs');
    demo.kill(signal);
    await exited;
    t.notOk(alive(pid), `no extension (pid ${pid}) outlives the demo`);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
}
