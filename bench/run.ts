import * as os from 'os';
import { demoTrainingPart } from './demo-training';
import { heapPart } from './heap';
import { ingestPart } from './ingest';
import { loadPart } from './load';
import { lstmPart, scoringPart } from './sequence-parts';
import { memoryPart } from './memory';
import { pidsPart } from './pids';
import { UsageError, usageProblem, type BenchPart } from './part';
import { selectPart } from './select';
import { HEADER, loadAverage, writeRows } from './table';
import { watchdogPart } from './watchdog';

// `npm run bench [-- PART [options]]`: every figure next to a baseline measured in the same
// run, because these machines are shared and absolute numbers drift. One file per part;
// results and how to read them: docs/benchmarks.md.

const PARTS: BenchPart[] = [ingestPart, scoringPart, selectPart, memoryPart, heapPart, lstmPart, demoTrainingPart, watchdogPart, pidsPart, loadPart];
/** sysexits EX_USAGE */
const EX_USAGE = 64;

function help(): string {
  const width = Math.max(...PARTS.map((p) => p.name.length));
  return [
    'Usage: npm run bench [-- PART [OPTIONS]]',
    '',
    'Runs every part below (without PART), or one. Each row shows a value, a baseline from the',
    'same run, their ratio (larger is always better) and whether the target was met.',
    'BENCH_OUT=FILE also writes the rows as a Markdown table.',
    '',
    'Parts:',
    ...PARTS.map((p) => `  ${p.name.padEnd(width)}  ${p.summary}`),
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return 0;
  }
  const [name, ...options] = argv;
  const chosen = name === undefined ? PARTS : PARTS.filter((p) => p.name === name);
  if (!chosen.length) {
    process.stderr.write(`bench: unknown part ${JSON.stringify(name)}\n\n${help()}`);
    return EX_USAGE;
  }
  const problem = name === undefined ? null : usageProblem(chosen[0], options);
  if (problem) {
    process.stderr.write(`bench: ${problem}; npm run bench -- --help lists them\n`);
    return EX_USAGE;
  }
  console.log(`node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}, load average ${loadAverage()}`);
  for (const line of HEADER) console.log(line);
  for (const part of chosen) await part.run(name === undefined ? [] : options);
  if (process.env.BENCH_OUT) writeRows(process.env.BENCH_OUT);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(EX_USAGE);
    }
    console.error(err);
    process.exit(1);
  },
);
