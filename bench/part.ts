// A benchmark part: `npm run bench -- NAME` runs one, `npm run bench -- --help` lists them.
export interface BenchPart {
  name: string;
  /** one line for --help */
  summary: string;
  run(args: string[]): Promise<void>;
}
