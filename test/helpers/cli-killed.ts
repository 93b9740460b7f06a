import { Scorer } from '../../scorer/scorer';
import { RetainedScores } from '../../state/scores';
import { RetainedWindows } from '../../state/windows';
import { TrainLedger } from '../../cli/train-ledger';

// The `anomaly` command, run as a script that SIGKILLs itself at one chosen moment, the way a
// power cut or the OOM killer would end it: no `finally`, no signal handler, nothing saved
// after that moment. The moment is `CLI_KILL_AT`, `<point>:<n>`, the n-th time (from 1) the
// process passes the point:
//   retained  rows appended to the retained scores (a batch)
//   subject   a subject's file written (a resident subject unloaded, or the final save)
//   ledger    a ledger saved
// Or, with `CLI_FAIL_AT` `retained:<n>` instead, the n-th append to the retained scores is
// refused as a full disk refuses a chunk: nothing of it written (the store cuts a refused
// write back), ENOSPC thrown; the command goes on as it would after that (chaos3). And
// `windows:<n>`: the n-th append of closed windows to the retained windows refused the same way.
// The command's arguments are this script's. Used by test/cli-killed.test.ts.

const [point, nth] = (process.env.CLI_KILL_AT ?? '').split(':');
const after = Number(nth) || 1;
let passed = 0;

/** `method` of `proto`, followed by a SIGKILL the n-th time it returns when `point` is the one chosen */
function killAfter(name: string, proto: object, method: string): void {
  if (point !== name) return;
  const p = proto as Record<string, (...args: unknown[]) => unknown>;
  const original = p[method];
  p[method] = function (this: unknown, ...args: unknown[]) {
    const out = original.apply(this, args);
    if (++passed === after) process.kill(process.pid, 'SIGKILL');
    return out;
  };
}

killAfter('retained', RetainedScores.prototype, 'append');

const [failPoint, failNth] = (process.env.CLI_FAIL_AT ?? '').split(':');
const refused = ({ retained: RetainedScores.prototype, windows: RetainedWindows.prototype } as Record<string, object | undefined>)[failPoint];
if (refused) {
  const p = refused as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = p.append;
  let calls = 0;
  p.append = function (this: unknown, ...args: unknown[]) {
    if (++calls === (Number(failNth) || 1))
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    return original.apply(this, args);
  };
}
killAfter('subject', Scorer.prototype, 'writeSubject');
killAfter('ledger', TrainLedger.prototype, 'save');

require('../../cli/main');
