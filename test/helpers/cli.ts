import { spawnSync } from 'child_process';
import * as path from 'path';
import { DIST } from './paths';

const CLI = path.join(DIST, 'cli', 'main.js');

/** run the `anomaly` command as a user would, without the caller's ANOMALY_CONFIG */
export function anomaly(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ANOMALY_CONFIG: '', ...env }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * `[file, args]` that run the `anomaly` command as another user: through `env -i`, as tap's
 * process-info hooks put variables into every child's environment that make node write a
 * record into the test's folder when it exits, which that user may not
 */
export function asOtherUser(args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-i', `PATH=${process.env.PATH}`, 'ANOMALY_CONFIG=', process.execPath, CLI, ...args]];
}
