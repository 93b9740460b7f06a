#!/usr/bin/env node
import { ConfigError } from '../conf/config';
import { DatasetError } from '../scorer/eval/datasets';
import { ResultLineError } from '../scorer/parse/results';
import { meantName, UsageError } from './flags';
import { EXIT, CliError } from './exit';
import { COMMANDS, usage } from './commands';
import { printable } from './commands/shared';

// `anomaly`: the command line of anomaly.ext. Exit codes follow sysexits(3): 64 usage,
// 65 bad input data, 66 missing input, 69 extension unavailable, 70 internal error,
// 78 configuration error.

// `anomaly score … | head`: a reader that stops early is normal in a pipeline, not an error
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

/** the command being run, so that a usage error points at its own --help, where its flags are */
let command: string | undefined;

/** own keys only: a plain object also answers 'constructor', 'toString', '__proto__' */
function commandNamed(name: string): (typeof COMMANDS)[string] | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function unknownCommand(name: string): UsageError {
  const meant = meantName(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command ${JSON.stringify(name)}${meant ? `; did you mean ${meant}?` : ''}`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  // no command is a usage error like an unknown one (exit 64, on stderr): a script that ran
  // `anomaly $CMD` with CMD unset printed the usage to stdout and went on as if it had worked
  if (!name) throw new UsageError('a command is required', true);
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined;
    const cmd = topic ? commandNamed(topic) : undefined;
    if (topic && !cmd) throw unknownCommand(topic);
    process.stdout.write(cmd ? cmd.load().help : usage());
    return EXIT.ok;
  }
  if (name === '--version') {
    process.stdout.write(`${require('../../package.json').version}\n`);
    return EXIT.ok;
  }
  const cmd = commandNamed(name);
  if (!cmd) throw unknownCommand(name);
  command = name;
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(cmd.load().help);
    return EXIT.ok;
  }
  return cmd.load().run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as Error;
    const message = printable(e.message);
    if (err instanceof UsageError) {
      const next = err.usage ? `\n${usage()}` : `Run 'anomaly ${command ? `${command} ` : ''}--help' for ${command ? 'its options' : 'usage'}.\n`;
      process.stderr.write(`anomaly: ${message}\n${next}`);
      process.exitCode = EXIT.usage;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`anomaly: config error: ${message}\n`);
      process.exitCode = err.missing ? EXIT.noinput : EXIT.config;
    } else if (err instanceof DatasetError || err instanceof ResultLineError) {
      process.stderr.write(`anomaly: ${message}\n`);
      process.exitCode = EXIT.dataerr;
    } else if (err instanceof CliError) {
      process.stderr.write(`anomaly: ${message}\n`);
      process.exitCode = err.code;
    } else {
      process.stderr.write(`anomaly: internal error: ${e.stack ?? e}\n`);
      process.exitCode = EXIT.software;
    }
  },
);
