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

/**
 * Evaluation data outside the repository (ANOMALY_DATA, else ../shared/data). Only evaluations
 * read it, and they skip with `dataMissing`'s message when it is not there.
 */
export const DATA: string = process.env.ANOMALY_DATA || path.resolve(ROOT, '..', 'shared', 'data');

/** why a test needing DATA/`sub` is skipped, or false when the data is there */
export function dataMissing(sub: string): string | false {
  if (fs.existsSync(path.join(DATA, sub))) return false;
  return `needs the evaluation data ${path.join(DATA, sub)}, which is not part of the repository (set ANOMALY_DATA to its folder; sources in docs/evaluation.md)`;
}
