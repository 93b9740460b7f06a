import { SUN_PATH_MAX } from './sun-path';

// The argv osqueryd gives an extension it launches (protocol doc §3.2):
//   <path> [--verbose] --socket <path> --timeout <seconds> --interval <seconds>
// plus the `--x=v` forms and the `--extensions_*` long names for manual runs.

export interface ExtensionArgs {
  socket: string;
  /** seconds to wait for the manager socket */
  timeout: number;
  /** seconds between health checks */
  interval: number;
  verbose: boolean;
}

export const DEFAULT_SOCKET = '/var/osquery/osquery.em';

/**
 * What the extension adds to the manager's path: its own socket `<path>.<uuid>` (a uuid up to
 * 65535) and, while that is bound, the staging `<path>.<uuid>.d/s` (extension/server.ts).
 * The longest manager path that leaves room for both is 97 bytes, osquery-go's limit too.
 */
const OWN_SOCKET_SUFFIX = '.65535.d/s';
export const MAX_MANAGER_SOCKET = SUN_PATH_MAX - OWN_SOCKET_SUFFIX.length;

/**
 * osqueryd reads --extensions_timeout and --extensions_interval with atoi and waits at least
 * 200 ms (0 is a valid setting there); Node's timers take at most 2^31 - 1 ms and run a longer
 * delay after 1 ms, which would turn a long interval into a busy loop of pings
 */
const MIN_SECONDS = 0.2;
const MAX_SECONDS = Math.floor(0x7fffffff / 1000);

/**
 * What `--help` prints, run through the launcher (which answers it itself, so that it works
 * before node is found) or as `node dist/extension/main.js`; test/extension-friction checks
 * that the two say the same.
 */
export const USAGE = `Usage: anomaly.ext [--verbose] --socket PATH [--timeout SECONDS] [--interval SECONDS]

The osquery extension anomaly.ext, as osqueryd launches it: it registers the logger plugin
\`anomaly\` and the tables anomaly_scores, anomaly_windows, anomaly_models, anomaly_feedback
on the osqueryd extension socket PATH, at most 97 bytes (its own socket beside it must fit a
unix socket address). SECONDS as osqueryd's --extensions_timeout and --extensions_interval
give them: 0 or more, waited at least 0.2 s as osqueryd does, at most 2147483 s (24 days).

Environment (osqueryd passes its own environment to the extensions it launches):
  ANOMALY_DIST    the built tree (the dist/ folder of an installed anomaly.ext); default:
                  ../dist beside this file (a checkout), else ../anomaly/dist (the layout
                  of the README: /usr/local/lib/osquery/{extensions/anomaly.ext,anomaly/})
  ANOMALY_NODE    the node binary (Node 20+); default: node on PATH
  ANOMALY_CONFIG  the extension's config file; default: /etc/osquery/anomaly.json
  ANOMALY_STATE_DIR  overrides the config's state_dir (default /var/osquery/anomaly);
                  an absolute path, as the extension runs in osqueryd's working directory

It runs node on the built tree only when the node binary, dist/, the folder that holds it
(with its package.json) and node_modules/ are owned by root or by the user it runs as and are
not writable by everyone: osqueryd's rule for extensions, as whoever can change them runs
code as osqueryd's user (exit 78 otherwise, naming the file). The folders above them must be
too, unless sticky as /tmp is (whoever may rename one puts another tree in its place), and
the paths are run resolved, links followed, as they were checked.
`;

/** `--help` or `-h` anywhere, as osqueryd never passes them */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

const ALIASES: Record<string, keyof ExtensionArgs> = {
  socket: 'socket',
  extensions_socket: 'socket',
  timeout: 'timeout',
  extensions_timeout: 'timeout',
  interval: 'interval',
  extensions_interval: 'interval',
  verbose: 'verbose',
};

export class ArgsError extends Error {}

export function parseArgs(argv: readonly string[]): ExtensionArgs {
  const out: ExtensionArgs = { socket: DEFAULT_SOCKET, timeout: 3, interval: 3, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ArgsError(`unexpected argument ${JSON.stringify(arg)} (expected --socket, --timeout, --interval, --verbose)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    // own keys only: a plain object also answers 'constructor', 'toString', '__proto__'
    const key = Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
    if (!key) throw new ArgsError(`unknown flag --${name} (expected --socket, --timeout, --interval, --verbose)`);
    if (key === 'verbose') {
      out.verbose = eq < 0 ? true : !/^(false|0|no)$/i.test(arg.slice(eq + 1));
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ArgsError(`--${name} needs a value`);
    if (key === 'socket') {
      if (!value) throw new ArgsError('--socket needs a path');
      const bytes = Buffer.byteLength(value);
      if (bytes > MAX_MANAGER_SOCKET)
        throw new ArgsError(
          `--socket ${JSON.stringify(value)} is ${bytes} bytes: a unix socket path holds at most ${SUN_PATH_MAX}, and the extension's own socket beside it (<path>.<uuid>, bound as <path>.<uuid>.d/s) needs ${OWN_SOCKET_SUFFIX.length} more; give osqueryd an --extensions_socket of at most ${MAX_MANAGER_SOCKET} bytes`,
        );
      out.socket = value;
    } else {
      // osquery keeps these flags as strings and parses integer seconds
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || n < 0)
        throw new ArgsError(`--${name} must be a number of seconds (0 or more), not ${JSON.stringify(value)}`);
      out[key] = Math.min(MAX_SECONDS, Math.max(MIN_SECONDS, n));
    }
    value = undefined;
  }
  return out;
}
