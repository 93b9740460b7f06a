// A benchmark part: `npm run bench -- NAME` runs one, `npm run bench -- --help` lists them.
export interface BenchPart {
  name: string;
  /** one line for --help */
  summary: string;
  /** the options it takes: `value` ones take the next argument, `flag` ones none */
  options: Readonly<Record<string, 'value' | 'flag'>>;
  run(args: string[]): Promise<void>;
}

/** a part's option with a value it cannot take: `npm run bench` exits 64 with the message */
export class UsageError extends Error {}

/**
 * What is wrong with a part's arguments, or null: an option it does not have, a value option
 * without its value, a stray argument. Checked before anything runs: a typo of an option
 * (`--againts`) made a whole measurement without it.
 */
export function usageProblem(part: BenchPart, args: readonly string[]): string | null {
  const known = () =>
    Object.keys(part.options).length
      ? `its options: ${Object.keys(part.options)
          .map((o) => `--${o}`)
          .join(', ')}`
      : 'it takes none';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) return `${part.name} takes no argument ${JSON.stringify(a)} (${known()})`;
    const kind = part.options[a.slice(2)];
    if (!kind) return `${part.name} has no option ${a} (${known()})`;
    if (kind === 'value') {
      if (i + 1 >= args.length || args[i + 1].startsWith('--')) return `${a} needs a value`;
      i++;
    }
  }
  return null;
}
