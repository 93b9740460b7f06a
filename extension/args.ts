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
 * What `--help` prints, run through the launcher (which answers it itself, so that it works
 * before node is found) or as `node dist/extension/main.js`; test/extension-friction checks
 * that the two say the same.
 */
export const USAGE = `Usage: anomaly.ext [--verbose] --socket PATH [--timeout SECONDS] [--interval SECONDS]

The osquery extension anomaly.ext, as osqueryd launches it: it registers the logger plugin
\`anomaly\` and the tables anomaly_scores, anomaly_windows, anomaly_models, anomaly_feedback
on the osqueryd extension socket PATH.

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
      out.socket = value;
    } else {
      // osquery keeps these flags as strings and parses integer seconds
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new ArgsError(`--${name} must be a positive number of seconds, not ${JSON.stringify(value)}`);
      out[key] = n;
    }
    value = undefined;
  }
  return out;
}
