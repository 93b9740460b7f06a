// The demo's `osquery>` prompt says "SQL as in osqueryi", and someone who uses osqueryi types
// its dot commands there: `.quit` was answered `Error: near ".": syntax error` and the prompt
// stayed, `.tables` the same. The few that make sense against the emulator are taken here.

/** what a line typed at the prompt asks for */
export type PromptLine = { sql: string } | { quit: true } | { say: string };

/** the tables an extension registered, as osqueryi's `.tables` lists them, through osquery_registry */
const TABLES = "SELECT name FROM osquery_registry WHERE registry = 'table' ORDER BY name";

export const PROMPT_HELP = 'SQL statements, one a line, as in osqueryi; .tables lists the tables, .schema TABLE its columns, .quit (or Ctrl-C) ends the demo';

export function promptLine(line: string): PromptLine {
  const text = line.trim();
  if (!text.startsWith('.')) return { sql: text };
  const [cmd, ...args] = text.split(/\s+/);
  switch (cmd) {
    case '.quit':
    case '.exit':
      return { quit: true };
    case '.tables':
      return { sql: TABLES };
    case '.schema':
      // a name that is not a plain identifier would be SQL of the user's: pragma_table_info takes it as a value
      if (args.length === 1 && /^\w+$/.test(args[0])) return { sql: `SELECT name, type FROM pragma_table_info('${args[0]}')` };
      return { say: 'usage: .schema TABLE' };
    case '.help':
      return { say: PROMPT_HELP };
    default:
      return { say: `unknown command ${cmd}: ${PROMPT_HELP}` };
  }
}
