// What the alert answer scripts (alert-flood.js, alert-burst.js, alert-fold.js) share: their options, the build
// they run (`--dist DIR`: another build's dist/ directory, e.g. the tree before a change), and
// the pack's `bad` query's answer as the table plugin makes it at a given time, with the
// context osqueryd sends (the time bound its strftime gives at that moment, colsUsed).
const fs = require('fs');
const path = require('path');

function alertRun(argv) {
  const opt = (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
  };
  const dist = path.resolve(opt('dist', path.join(__dirname, '..', '..', 'dist')));
  const root = path.dirname(dist);
  const load = (...parts) => require(path.join(dist, ...parts));
  const { SCORE_COLUMNS } = load('extension', 'tables', 'scores.js');
  const { generateContext } = load('emulator', 'sql.js');
  const alerts = JSON.parse(fs.readFileSync(path.join(root, 'packs', 'anomaly-alerts.conf'), 'utf8'));
  const NOW_SQL = "(CAST(strftime('%s', 'now') AS INTEGER) - 86400)";
  /**
   * the rows of the `bad` query's answer at `now` from `table` (scoresTable), as they are sent;
   * taken to the end, the answer is delivered as the server delivers it (what it commits, its
   * rows' answered marks, runs), and left early (refused) it is not
   */
  const badAnswer = async (table, now) => {
    const context = generateContext(
      alerts.queries.bad.query.replace(NOW_SQL, String(now - 86400)),
      SCORE_COLUMNS.map((c) => ({ name: c.name, type: c.type, op: '0' })),
      'anomaly_scores',
    );
    const res = await table.call({ action: 'generate', context }, new Map());
    return (async function* () {
      yield* res.rows;
      res.delivered?.();
    })();
  };
  return { opt, dist, alerts, load, badAnswer };
}

module.exports = { alertRun };
