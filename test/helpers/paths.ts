import * as fs from 'fs';
import * as path from 'path';

/** The repository root, found from wherever the compiled test runs (dist or a dist-NAME folder). */
export const ROOT: string = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = up;
  }
  return dir;
})();

/** The compiled tree this test runs from (dist or a helper dist-NAME folder). */
export const DIST: string = path.resolve(__dirname, '..', '..');

/** Small data kept in the repository (see test/fixtures/README.md): what every test may read. */
export const FIXTURES: string = path.join(ROOT, 'test', 'fixtures');
export const JUMPVM_LOG: string = path.join(FIXTURES, 'osquery', 'jumpvm.results.log');
export const WORKSTATION_EXPORT: string = path.join(FIXTURES, 'osquery', 'workstation-2017-03-28.excerpt.json');
