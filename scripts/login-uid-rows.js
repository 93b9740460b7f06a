// node scripts/login-uid-rows.js FILE... (review9, docs/hardening.md): extracts each results log
// with this build (dist/) and counts the rows whose `loginuid=unset` differs from what their own
// auid says, and whose subject differs from the auid-first resolution: the rows the rule "an auid
// written below a process no login was behind is no login" changes. One extractor per file.
const path = require('path');
const dist = path.resolve(__dirname, '..', 'dist');
const { FeatureExtractor } = require(dist + '/scorer/features/extract');
const { UidMap, resolveSubject } = require(dist + '/scorer/features/subject');
const { withoutLogin } = require(dist + '/scorer/features/security');
const { NO_LOGIN } = require(dist + '/scorer/types');
const { readResultLogs } = require(dist + '/scorer/parse/results');

(async () => {
  for (const file of process.argv.slice(2)) {
    const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
    const plain = new UidMap();
    let rows = 0;
    let unset = 0;
    let flag = 0;
    let subjects = 0;
    for await (const item of readResultLogs([file])) {
      for (const row of item.rows ?? []) {
        rows++;
        const before = resolveSubject(row, plain);
        const { subject, event } = x.extract(row);
        if (withoutLogin(row.columns)) unset++;
        if (event.values.includes(NO_LOGIN) !== withoutLogin(row.columns)) flag++;
        if (subject !== before) subjects++;
      }
    }
    console.log(`${file}: ${rows} rows, ${unset} with auid unset, ${flag} whose loginuid=unset changes, ${subjects} whose subject changes`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
