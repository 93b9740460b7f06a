// A small, strict flag parser: every command declares its flags, anything else is a usage
// error that names the flag (exit 64, EX_USAGE).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** flag takes a value; `many` collects repeated values and the words that follow it */
  kind: 'bool' | 'value' | 'many';
}

export function parseFlags(argv: readonly string[], spec: Record<string, FlagSpec>): { flags: Record<string, string | string[] | boolean>; rest: string[] } {
  const flags: Record<string, string | string[] | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    // own keys only: a plain object also answers 'constructor', 'toString', '__proto__'
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown flag --${name}`);
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
