import { spawnSync } from 'child_process';
import * as path from 'path';
import { bareNode } from './bare-node';
import { DIST } from './paths';

const CLI = path.join(DIST, 'cli', 'main.js');

/**
 * run the `anomaly` command as a user would, without the caller's ANOMALY_CONFIG (its output
 * whole: spawnSync's default keeps 1 MB, 1,500 rows of score's JSON)
 */
export function anomaly(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(...bareNode([CLI, ...args]), {
    encoding: 'utf8',
    env: { ...process.env, ANOMALY_CONFIG: '', ...env },
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
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

/**
 * Why this process cannot run the `anomaly` command as user 65534 (nobody), or false when it
 * can: that needs root, and a node and checkout that user may read. A checkout in a private
 * folder (root's home, or CI's clone before `.ci/run` opened its folder) fails with "Cannot
 * find module", which says nothing about the product.
 */
export function otherUserCannotRun(): string | false {
  if (process.getuid?.() !== 0) return 'needs root, to run the command as another user';
  const probe = spawnSync(...asOtherUser(['--version']), { encoding: 'utf8', uid: 65534, gid: 65534 });
  return probe.status === 0 ? false : `user 65534 cannot run ${CLI} (a checkout in a private folder?): ${(probe.stderr ?? '').trim().split('\n').pop()}`;
}
