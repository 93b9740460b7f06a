import { textKey, type Bound, type ScoreFilter } from '../../state/store';
import { echo, escapeControl } from '../log';
import { oneLine } from '../hidden-chars';
import { rowidOf } from './rowid';
import type { Plugin, PluginResponse, Row } from './types';

// A table plugin from plain functions (osquery-go's table.NewPlugin): columns, a generate
// function and, for writable tables, an insert function. Route info and the `columns`
// answer are built from the same list, since osqueryd compares them (protocol doc §3.3).

export type ColumnType = 'TEXT' | 'INTEGER' | 'BIGINT' | 'UNSIGNED BIGINT' | 'DOUBLE' | 'BLOB';

/** osquery's ColumnOptions (osquery/core/sql/column.h) */
export const COLUMN = { INDEX: 1, REQUIRED: 2, ADDITIONAL: 4, OPTIMIZED: 8, HIDDEN: 16 } as const;

/**
 * The options of a column declared without any: INDEX, so that osqueryd hands its constraints
 * over whatever --extensions_default_index says, and OPTIMIZED, so that osquery ≥ 5.14 hands an
 * IN list over in one call instead of one call per value (200 calls for `id IN` 200 ids). Not
 * exactly INDEX, which osqueryd would refuse NULL for in an INSERT (docs/osquery-calls.md).
 */
export const DEFAULT_OPTIONS = COLUMN.INDEX | COLUMN.OPTIMIZED;

export interface ColumnDefinition {
  name: string;
  type: ColumnType;
  /** ColumnOptions bitmask (COLUMN); DEFAULT_OPTIONS when absent */
  options?: number;
}

export interface Constraint {
  op: number;
  expr: string;
}

export interface QueryContext {
  /** usable constraints per column; columns without any are absent */
  constraints: Map<string, Constraint[]>;
  /** columns the query uses, when osqueryd said */
  colsUsed: Set<string> | null;
  /**
   * takes what the answer commits once osqueryd has it (state/answer-share.ts AnswerShare.marks):
   * each is run by the server from the write of the reply (PluginResponse.delivered), or never
   */
  onDelivered?: (commit: () => void) => void;
}

export type { Row };

/**
 * A row the table does not take is a `failure` with its reason: osqueryd's xUpdate shows an
 * answer's message only with that status (`constraint` is SQLite's bare "constraint failed"),
 * and the osquery prompt, or osqueryd's log for a scheduled INSERT, then says why.
 */
export type InsertResult = { status: 'success'; id?: string } | { status: 'failure' | 'readonly'; message: string };

export interface TableDefinition {
  name: string;
  columns: readonly ColumnDefinition[];
  /** rows may be produced lazily (a generator): the server encodes them as they come */
  generate(context: QueryContext): Iterable<Row> | AsyncIterable<Row> | Promise<Iterable<Row>>;
  /** values by column name, null for SQL NULL */
  insert?(values: Record<string, string | null>): InsertResult | Promise<InsertResult>;
}

export const OP = { EQUALS: 2, GREATER_THAN: 4, LESS_THAN_OR_EQUALS: 8, LESS_THAN: 16, GREATER_THAN_OR_EQUALS: 32 } as const;

export function tablePlugin(def: TableDefinition): Plugin {
  const routes = def.columns.map((c) => ({ id: 'column', name: c.name, type: c.type, op: String(c.options ?? DEFAULT_OPTIONS) }));
  return {
    registry: 'table',
    name: def.name,
    routes: () => routes.map((r) => ({ ...r })),
    async call(request): Promise<PluginResponse> {
      switch (request.action) {
        case 'columns':
          return { code: 0, rows: routes.map((r) => ({ ...r })) };
        case 'generate': {
          const context = parseContext(request.context);
          // an answer hands over its commits as its rows are taken, after this returns; the
          // server runs them once it has written the reply
          const commits: Array<() => void> = [];
          context.onDelivered = (commit) => void commits.push(commit);
          // (a row that carries its own rowid keeps it, one made of its raw text: rowid.ts; the
          // shown cells of two rows may be alike)
          const key = (row: Row) => JSON.stringify(def.columns.map((c) => row[c.name] ?? null));
          const withRowid = eachRow(onlyEqual(shownCells(await def.generate(context), def.columns), context, def.columns), (row) => {
            if (row.rowid === undefined) row.rowid = rowidOf(key(row));
            return row;
          });
          const rows = onlyUsed(withRowid, context.colsUsed, def.columns);
          return { code: 0, rows, delivered: () => commits.splice(0).forEach((commit) => commit()) };
        }
        case 'insert': {
          if (!def.insert) return { code: 0, rows: [{ status: 'readonly' }] };
          const values = parseValueArray(request.json_value_array, def.columns);
          const res = await def.insert(values);
          if (res.status === 'success') return { code: 0, rows: [{ status: 'success', ...(res.id ? { id: res.id } : {}) }] };
          // osqueryd shows a failure's message (its SQL error: the osquery prompt, its log, a
          // fleet manager) and it echoes values of the INSERT: their controls are shown, not obeyed
          const message = escapeControl(res.message);
          return { code: 0, message, rows: [{ status: res.status, message }] };
        }
        case 'update':
        case 'delete':
          return { code: 0, rows: [{ status: 'readonly' }] };
        default:
          return { code: 1, message: `unknown table action ${echo(request.action)}` };
      }
    },
  };
}

/**
 * Every text cell of every table shown by one rule, oneLine (hidden-chars.ts): osqueryi prints
 * a cell with printf("%s"), so a control or hidden character in it drives or fools the root
 * operator's terminal. Not only the event and reasons are a local user's to write: a subject
 * is a row's username or uid (`last`, `logged_in_users` read utmp, which its users' sessions
 * write), a host and a query name come from the config or the line, a label's note and id from
 * whoever INSERTs. Before onlyEqual, which compares what SQLite compares: the shown cell (the
 * stores' push-down compares shown forms too, state/store.ts shownKey). A table that cuts its
 * cells shows them first (answer.ts cutCells), so its cut counts the escapes; shown text is
 * shown again unchanged.
 */
export function shownCells(rows: Iterable<Row> | AsyncIterable<Row>, columns: readonly ColumnDefinition[]): Iterable<Row> | AsyncIterable<Row> {
  const text = textColumns(columns);
  return eachRow(rows, (row) => shownRow(row, text));
}

/** the names of the TEXT columns among `columns` */
export function textColumns(columns: readonly ColumnDefinition[]): string[] {
  return columns.filter((c) => c.type === 'TEXT').map((c) => c.name);
}

/** `row` with each of its cells named in `text` shown (shownCells) */
export function shownRow(row: Row, text: readonly string[]): Row {
  for (const k of text) {
    const v = row[k];
    if (v !== undefined) row[k] = oneLine(v);
  }
  return row;
}

/**
 * Each row with only the columns the query uses (osqueryd's colsUsed, as its own tables skip
 * the columns a query does not read); every column when osqueryd does not say (before 4.0).
 * An answer cannot be paged and stops at 64 MB: an alert query that reads no row's `columns`
 * was sent all of them, up to ~37 kB a row of a local user's own command line and paths
 * (control characters are six bytes of JSON each), and 1,800 bad rows of their making in a day
 * had osqueryd's `bad` query refused every minute until they aged out (rootsafe). A column
 * left out is SQL NULL, which a query that does not use it never reads.
 */
function onlyUsed(
  rows: Iterable<Row> | AsyncIterable<Row>,
  used: ReadonlySet<string> | null,
  columns: readonly ColumnDefinition[],
): Iterable<Row> | AsyncIterable<Row> {
  if (!used || columns.every((c) => used.has(c.name))) return rows;
  // (the rowid too, which no query names: SQLite reads it through xRowid)
  const keep = [...columns.filter((c) => used.has(c.name)).map((c) => c.name), 'rowid'];
  return eachRow(rows, (row) => {
    const out: Row = {};
    for (const k of keep) if (row[k] !== undefined) out[k] = row[k];
    return out;
  });
}

/**
 * Only the rows that may equal the call's `=` values (docs/osquery-calls.md). osqueryd calls a
 * table once per value of an IN list (every list before osquery 5.14, a list on a column not
 * OPTIMIZED since), and SQLite checks each row against the whole list, not the value of the
 * call, and drops no repeat: a row a table answered to every call came back once per value
 * (`anomaly_models WHERE subject IN ('*', 'alice')` listed each model twice). A row is left out
 * only when no collation could make it equal (text compared as textKey compares it, numbers as
 * numbers), so no COLLATE clause loses one; nor a numeric operand: a text column compared with
 * another table's INTEGER column or a CAST is compared as a number ('01000' = 1000), and the
 * call is told the operand's value only, so a text value that reads as a number also matches
 * a row whose text reads as the same number.
 */
function onlyEqual(rows: Iterable<Row> | AsyncIterable<Row>, ctx: QueryContext, columns: readonly ColumnDefinition[]): Iterable<Row> | AsyncIterable<Row> {
  const tests: Array<{ column: string; may: (v: string) => boolean }> = [];
  for (const c of columns) {
    const values = ctx.constraints
      .get(c.name)
      ?.filter((x) => x.op === OP.EQUALS)
      .map((x) => x.expr);
    if (!values?.length) continue;
    if (c.type === 'TEXT' || c.type === 'BLOB') {
      const keys = new Set(values.map(textKey));
      const asNumbers = new Set(values.map(affinityNumber).filter((n): n is number => n !== null));
      tests.push({ column: c.name, may: (v) => keys.has(textKey(v)) || (asNumbers.size > 0 && asNumbers.has(affinityNumber(v) ?? NaN)) });
      continue;
    }
    // a value SQLite would not read as a number leaves the column unfiltered
    const numbers = values.map(affinityNumber);
    if (numbers.some((n) => n === null)) continue;
    const set = new Set(numbers);
    tests.push({ column: c.name, may: (v) => affinityNumber(v) === null || set.has(affinityNumber(v)) });
  }
  if (!tests.length) return rows;
  return eachRow(rows, (row) => (tests.every((t) => row[t.column] === undefined || t.may(row[t.column])) ? row : null));
}

/** text SQLite's numeric affinity reads as a number (blanks around it allowed), or null */
function affinityNumber(text: string): number | null {
  const trimmed = text.trim();
  return SQL_NUMBER.test(trimmed) ? Number(trimmed) : null;
}

/** rows through `map`, lazily, sync or async as they came (an array at once, into one); a row mapped to null is left out */
function eachRow(rows: Iterable<Row> | AsyncIterable<Row>, map: (row: Row) => Row | null): Iterable<Row> | AsyncIterable<Row> {
  if (Array.isArray(rows)) {
    const out: Row[] = [];
    for (const row of rows as Row[]) {
      const mapped = map(row);
      if (mapped) out.push(mapped);
    }
    return out;
  }
  if (Symbol.iterator in rows)
    return (function* () {
      for (const row of rows as Iterable<Row>) {
        const out = map(row);
        if (out) yield out;
      }
    })();
  return (async function* () {
    for await (const row of rows) {
      const out = map(row);
      if (out) yield out;
    }
  })();
}

/**
 * The generate context (protocol doc §5.3), parsed defensively: ops as numbers or strings,
 * `list` as an array or "" (osquery < 3), missing colsUsed, unknown ops ignored. A context
 * that is not JSON means no constraints: SQLite re-checks every row anyway.
 */
export function parseContext(text: string | undefined): QueryContext {
  const ctx: QueryContext = { constraints: new Map(), colsUsed: null };
  if (!text) return ctx;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return ctx;
  }
  if (!doc || typeof doc !== 'object') return ctx;
  const d = doc as { constraints?: unknown; colsUsed?: unknown };
  if (Array.isArray(d.constraints)) {
    for (const c of d.constraints) {
      if (!c || typeof c !== 'object') continue;
      const { name, list } = c as { name?: unknown; list?: unknown };
      if (typeof name !== 'string' || !Array.isArray(list)) continue;
      for (const item of list) {
        if (!item || typeof item !== 'object') continue;
        const op = Number((item as { op?: unknown }).op);
        const expr = (item as { expr?: unknown }).expr;
        if (!Number.isInteger(op) || expr === undefined || expr === null) continue;
        const arr = ctx.constraints.get(name) ?? [];
        arr.push({ op, expr: String(expr) });
        ctx.constraints.set(name, arr);
      }
    }
  }
  if (Array.isArray(d.colsUsed)) ctx.colsUsed = new Set(d.colsUsed.filter((x): x is string => typeof x === 'string'));
  return ctx;
}

const BOUND_OPS: Record<number, Bound['op']> = {
  [OP.GREATER_THAN]: '>',
  [OP.GREATER_THAN_OR_EQUALS]: '>=',
  [OP.LESS_THAN]: '<',
  [OP.LESS_THAN_OR_EQUALS]: '<=',
};

/**
 * A number as SQLite reads one from text: digits, a point, an exponent, nothing else. Other
 * text stays text to SQLite, and a numeric column compares less than any text, so `time < ''`
 * or `time < '0x10'` holds for every row, where JavaScript's Number('') is 0 and
 * Number('0x10') is 16: such a constraint is no bound at all.
 */
const SQL_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** numeric bounds for a column (ranges ANDed); equality becomes a closed range */
export function boundsOf(ctx: QueryContext, column: string): Bound[] | undefined {
  const list = ctx.constraints.get(column);
  if (!list) return undefined;
  const out: Bound[] = [];
  const equals: number[] = [];
  // an equality that gives no bound may be a member of an IN list the others share: SQLite
  // reads ' 200 ' as 200 for a numeric column, and narrowing the list to the members read here
  // dropped its rows, so such a member leaves the list unbounded
  let unread = false;
  for (const c of list) {
    const v = SQL_NUMBER.test(c.expr) ? Number(c.expr) : NaN;
    if (c.op === OP.EQUALS) {
      if (Number.isFinite(v)) equals.push(v);
      else unread = true;
    } else if (BOUND_OPS[c.op] && Number.isFinite(v)) out.push({ op: BOUND_OPS[c.op], value: v });
  }
  // several equalities are an IN list: their span bounds the rows (a loop, not a spread:
  // an IN list of 200k values would overflow the call stack)
  if (equals.length && !unread) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of equals) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    out.push({ op: '>=', value: lo }, { op: '<=', value: hi });
  }
  return out.length ? out : undefined;
}

/** `=` and `IN (…)` values for a text column, for a store to filter by (none when one reads as a number) */
export function equalsOf(ctx: QueryContext, column: string): string[] | undefined {
  const list = ctx.constraints.get(column)?.filter((c) => c.op === OP.EQUALS);
  // A value that reads as a number may stand for a numeric operand (another table's INTEGER
  // column, a CAST), which SQLite compares with the text column as a number: '01000' = 1000.
  // A store's text filter would drop such rows; the column is left to onlyEqual (rev11)
  if (list?.some((c) => affinityNumber(c.expr) !== null)) return undefined;
  return list?.length ? list.map((c) => c.expr) : undefined;
}

export function scoreFilterOf(ctx: QueryContext): ScoreFilter {
  const f: ScoreFilter = {};
  const time = boundsOf(ctx, 'time');
  const score = boundsOf(ctx, 'score');
  if (time) f.time = time;
  if (score) f.score = score;
  for (const col of ['subject', 'host', 'verdict', 'query', 'id'] as const) {
    const eq = equalsOf(ctx, col);
    if (eq) f[col] = eq;
  }
  return f;
}

function parseValueArray(json: string | undefined, columns: readonly ColumnDefinition[]): Record<string, string | null> {
  let values: unknown;
  try {
    values = JSON.parse(json ?? '');
  } catch {
    throw new Error('insert: json_value_array is not a JSON array');
  }
  if (!Array.isArray(values)) throw new Error('insert: json_value_array is not a JSON array');
  if (values.length > columns.length) throw new Error(`insert: ${values.length} values for ${columns.length} columns`);
  const out: Record<string, string | null> = {};
  columns.forEach((c, i) => {
    const v = values[i];
    out[c.name] = v === undefined || v === null ? null : String(v);
  });
  return out;
}
