import t from 'tap';
import { PROMPT_HELP, promptLine } from '../cli/commands/prompt-dot';

// The demo's osquery> prompt answered osqueryi's `.quit` with `Error: near ".": syntax error`
// and went on serving; `.tables` the same.

t.test("osqueryi's dot commands at the demo's prompt", async (t) => {
  t.same(promptLine('  SELECT 1;  '), { sql: 'SELECT 1;' }, 'SQL passes, trimmed');
  t.same(promptLine(''), { sql: '' }, 'an empty line is no statement');
  t.same(promptLine('.quit'), { quit: true }, '.quit ends it');
  t.same(promptLine('.exit'), { quit: true }, '.exit too');
  t.same(promptLine('.tables'), { sql: "SELECT name FROM osquery_registry WHERE registry = 'table' ORDER BY name" }, '.tables lists the registered tables');
  t.same(promptLine('.schema anomaly_models'), { sql: "SELECT name, type FROM pragma_table_info('anomaly_models')" }, '.schema TABLE its columns');
  t.same(promptLine(".schema x'); DROP"), { say: 'usage: .schema TABLE' }, 'a name that is not an identifier is no SQL of the user');
  t.same(promptLine('.help'), { say: PROMPT_HELP });
  t.match(promptLine('.mode line'), { say: /^unknown command \.mode: SQL statements/ }, 'another dot command says what the prompt takes');
});
