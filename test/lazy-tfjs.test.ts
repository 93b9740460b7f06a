import { spawnSync } from 'child_process';
import * as path from 'path';
import t from 'tap';
import { DIST } from './helpers/paths';

// Loading TensorFlow.js costs a process about 0.12 s of CPU; a process that builds, restores
// or runs no LSTM (`--help`, `report`, `status`, a config without the LSTM, the extension's
// Thrift thread) must not pay it. Each check runs in a fresh node, as a user's command does.

/** the @tensorflow modules a fresh node has loaded after running `script` */
function tfjsLoadedAfter(script: string): { loaded: number; stderr: string } {
  const probe = `${script}\nprocess.on('exit', () => process.stderr.write('TFJS ' + Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length + '\\n'));`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', cwd: DIST, timeout: 120_000 });
  const m = /TFJS (\d+)/.exec(r.stderr);
  return { loaded: m ? Number(m[1]) : -1, stderr: r.stderr };
}

const at = (rel: string) => JSON.stringify(path.join(DIST, rel));

t.test('the CLI, the scorer, the extension and the models index load no tfjs until an LSTM is built', async (t) => {
  const help = tfjsLoadedAfter(`process.argv = [process.execPath, ${at('cli/main.js')}, 'score', '--help']; require(${at('cli/main.js')});`);
  t.equal(help.loaded, 0, `anomaly score --help loads no tfjs module (${help.stderr})`);

  const modules = [
    'scorer/scorer.js',
    'scorer/models/index.js',
    'scorer/models/backend.js',
    'scorer/fit-helper.js',
    'scorer/service.js',
    'extension/extension.js',
  ];
  const imports = tfjsLoadedAfter(modules.map((m) => `require(${at(m)});`).join('\n'));
  t.equal(imports.loaded, 0, `importing ${modules.join(', ')} loads no tfjs module (${imports.stderr})`);

  const rarity = tfjsLoadedAfter(`require(${at('scorer/models/index.js')}).createModel('rarity');`);
  t.equal(rarity.loaded, 0, 'building a model other than the LSTM loads no tfjs module');

  const lstm = tfjsLoadedAfter(`require(${at('scorer/models/index.js')}).createModel('lstm');`);
  t.ok(lstm.loaded > 0, 'building an LSTM loads tfjs');
});
