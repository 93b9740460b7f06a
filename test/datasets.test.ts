import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import t from 'tap';
import { readTraces } from '../scorer/eval/datasets';

t.test('ADFA-LD traces keep the file they came from when the TSV names it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anomaly-traces-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const named = path.join(dir, 'named.tsv');
  fs.writeFileSync(
    named,
    [
      'split\tlabel\tattack_type\ttrace_id\tn_calls\tsyscalls',
      'validation\tnormal\t\tValidation_Data_Master/UVD-0007.txt\t3\t6 11 45',
      'attack\tattack\tAdduser\tAttack_Data_Master/Adduser_1/UAD-Adduser-1-2.txt\t2\t3 4',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  t.same(await readTraces(named), [
    { keys: ['6', '11', '45'], anomalous: false, type: undefined, id: 'Validation_Data_Master/UVD-0007.txt' },
    { keys: ['3', '4'], anomalous: true, type: 'Adduser', id: 'Attack_Data_Master/Adduser_1/UAD-Adduser-1-2.txt' },
  ]);
  const unnamed = path.join(dir, 'unnamed.tsv');
  fs.writeFileSync(unnamed, 'label\tsyscalls\nnormal\t6 11\n', { mode: 0o600 });
  t.same(await readTraces(unnamed), [{ keys: ['6', '11'], anomalous: false, type: undefined, id: undefined }]);
});
