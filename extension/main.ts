import * as fs from 'fs';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type AnomalyConfig } from '../conf/config';
import { parseArgs, USAGE, wantsHelp, type ExtensionArgs } from './args';
import { AnomalyExtension, ExitError } from './extension';
import { makeLog } from './log';

// anomaly.ext: what osqueryd launches. Reads its argv and config, then starts the extension
// (extension.ts) and hands it the signals.

async function main(): Promise<void> {
  let args: ExtensionArgs;
  let config: AnomalyConfig;
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`anomaly.ext: ${(err as Error).message}\n`);
    process.exit(64);
  }
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`anomaly.ext: config error: ${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
  const log = makeLog(args.verbose ? 'debug' : config.log_level);
  const extension = new AnomalyExtension(args, config, log);
  process.on('SIGTERM', () => void extension.shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => void extension.shutdown(0, 'SIGINT'));
  try {
    await extension.start();
  } catch (err) {
    log('error', (err as Error).message);
    process.exit(err instanceof ExitError ? err.code : 1);
  }
  // which config took effect: one missing from where osqueryd's environment points (no
  // ANOMALY_CONFIG in its service) means defaults, which nothing else would say
  const file = process.env.ANOMALY_CONFIG || DEFAULT_CONFIG_PATH;
  log('info', `config ${fs.existsSync(file) ? file : `${file} (absent: defaults)`}; state directory ${config.state_dir}`);
  extension.run();
}

main().catch((err) => {
  process.stderr.write(`anomaly.ext: ${(err as Error).message}\n`);
  process.exit(1);
});
