// The longest path a unix socket address holds on Linux: sun_path is 108 bytes with its NUL.
// Node does not refuse a longer one: libuv copies what fits and binds or connects there, so
// a longer path silently names another socket (a bind in the staging directory of
// extension/server.ts landed on a cut name and failed with EADDRINUSE).

export const SUN_PATH_MAX = 107;

/** why `p` cannot be a unix socket address, or null when it can */
export function sunPathProblem(p: string): string | null {
  const bytes = Buffer.byteLength(p);
  return bytes > SUN_PATH_MAX ? `${p} is ${bytes} bytes, longer than a unix socket address holds (${SUN_PATH_MAX})` : null;
}
