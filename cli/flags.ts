// A small, strict flag parser: every command declares its flags, anything else is a usage
// error that names the flag (exit 64, EX_USAGE).

export class UsageError extends Error {
  /** `usage`: the error is the command line's whole shape (no command at all), so the usage follows it */
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** flag takes a value; `many` collects repeated values and the words that follow it */
  kind: 'bool' | 'value' | 'many';
}

/** `positionals`: how many words that are no flag's value the command takes (feedback's ID and label) */
export function parseFlags(
  argv: readonly string[],
  spec: Record<string, FlagSpec>,
  positionals = 0,
): { flags: Record<string, string | string[] | boolean>; rest: string[] } {
  const flags: Record<string, string | string[] | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      // osqueryi's and gflags' single dash (`-socket`): a flag mistyped, not a word to ignore
      if (/^-[a-z]/i.test(arg)) throw unknownFlag(arg.split('=')[0], spec);
      if (rest.length === positionals) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    // own keys only: a plain object also answers 'constructor', 'toString', '__proto__'
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw unknownFlag(`--${name}`, spec);
    if (s.kind === 'bool') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const values: string[] = [];
    if (eq >= 0) values.push(arg.slice(eq + 1));
    else {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`--${name} needs a value`);
      values.push(argv[++i]);
    }
    if (s.kind === 'many') {
      while (eq < 0 && i + 1 < argv.length && !argv[i + 1].startsWith('--')) values.push(argv[++i]);
      flags[name] = [...((flags[name] as string[] | undefined) ?? []), ...values];
    } else {
      flags[name] = values[0];
    }
  }
  return { flags, rest };
}

function unknownFlag(flag: string, spec: Record<string, FlagSpec>): UsageError {
  const meant = meantName(flag.replace(/^-+/, ''), Object.keys(spec));
  return new UsageError(`unknown flag ${flag}${meant ? `; did you mean --${meant}?` : ''}`);
}

// Words osquery's flags (and this project's config keys) add to the name of the thing itself:
// `--extensions_socket`, `--config_path`, `state_dir` are our `--socket`, `--config`, `--state`.
const KIND_WORDS = new Set(['extensions', 'dir', 'path', 'file']);

/**
 * The known name (a flag, a command) an unknown one most likely meant, or undefined: the same
 * name in osquery's spelling (underscores, a kind word before or after it), else the one name a
 * single typo away (a letter left out, added or changed, or two swapped; two typos in a name
 * of 6 letters or more).
 */
export function meantName(name: string, known: readonly string[]): string | undefined {
  const words = name.toLowerCase().replace(/_/g, '-').split('-');
  const spelt = [words, words.filter((w, i) => !(KIND_WORDS.has(w) && (i === 0 || i === words.length - 1)))].map((w) => w.join('-'));
  const same = known.find((k) => spelt.includes(k));
  if (same) return same;
  const allowed = name.length >= 6 ? 2 : 1;
  const near = known.filter((k) => typoDistance(spelt[0], k) <= allowed);
  return near.length === 1 ? near[0] : undefined;
}

/** edits (insert, delete, change, swap of neighbours) that turn `a` into `b` */
function typoDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}
