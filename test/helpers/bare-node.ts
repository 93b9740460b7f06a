/**
 * `[file, args]` that run node with `args` without tap's process-info hooks: tap's wrapper of
 * child_process puts its `--import` back into every child's NODE_OPTIONS at spawn, whatever
 * `env` says (an `env` of `NODE_OPTIONS: ''` did nothing), so `env -u` drops it in the child's
 * own exec. The hooks record every module a process loads, for coverage the suite does not
 * collect, and cost each node child about a quarter of a second of CPU (`anomaly score --log`,
 * a usage error: 0.63 s with them, 0.37 without); a child that measures its memory measured
 * theirs too.
 */
export function bareNode(args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]];
}
