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

/** Real data shared by the project (../shared/data, see its README). */
export const DATA: string = path.resolve(ROOT, '..', 'shared', 'data');
