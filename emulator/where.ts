// Which WHERE terms SQLite hands a virtual table's xBestIndex, and so which constraints
// osqueryd puts in a generate context. SQLite offers a term only when it is one of the
// conjuncts (the ANDed parts) of the WHERE or an inner join's ON clause of the SELECT that
// scans the table, compares one of its columns with a constant, and is of a form the planner
// knows: `col op value` or `value op col` (commuted), `col BETWEEN a AND b` (two terms),
// `col IN (values)` (one EQUALS per value, one IN list), `col = a OR col = b` (SQLite rewrites
// it as `col IN (a, b)`), `col LIKE|GLOB pattern`, `col != value`, `col IS [NOT] value`. Any
// other term under OR or NOT, in the select list, or on another table is never a constraint:
// passing one would let the table filter rows the query keeps, which no real osqueryd does.
// Where in doubt (the table scanned twice, an outer join) this passes nothing, which is always
// a plan SQLite may choose. A comparison with another table's column (`t.col = o.col`) is a
// join term (joinTerms): its value comes from the other table's row, one call per row.
// docs/osquery-calls.md says where each rule is in osquery's and SQLite's source.

export const LIKE = 65;
export const GLOB = 66;
const EQUALS = 2;
/** SQLite's SQLITE_INDEX_CONSTRAINT_NE, _ISNOT and _IS, which osqueryd passes on as they are */
export const NOT_EQUALS = 68;
const IS_NOT = 69;
const IS = 72;
const RANGE: Record<string, number> = { '>': 4, '<=': 8, '<': 16, '>=': 32 };
const COMMUTED: Record<string, string> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=' };

export interface Term {
  column: string;
  op: number;
  expr: string;
  /** the terms of one IN list (or OR of equalities) share it: SQLite loops over them */
  list?: number;
  /**
   * an expression that is no literal (`time > strftime('%s', 'now') - 3600`): SQLite offers the
   * term and hands over its value, if it is a constant; the caller evaluates it (calls.ts)
   */
  sql?: string;
  /**
   * `col IN (SELECT …)`: one IN list whose values SQLite reads from the subquery at run time;
   * the caller runs it (calls.ts) once the tables it reads are loaded
   */
  subquery?: string;
  /** a subquery's values, once run (calls.ts) */
  values?: string[];
}

/** `col op other.col`: a term whose value is the other table's, row by row */
export interface JoinTerm {
  column: string;
  op: number;
  /** the other table's name or alias as the query writes it, and its column */
  other: string;
  otherColumn: string;
}

export interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'op' | '(' | ')' | ',' | ';';
  /** a word upper-cased, an identifier unquoted, a string's value, a number as SQLite prints it */
  text: string;
  depth: number;
  /** where it starts and ends in the statement */
  at: number;
  end: number;
}

const NUMBER = /^(?:0x[0-9a-f]+|(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)/i;
const WORD = /^[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*/;
const OPS = ['<>', '!=', '==', '>=', '<=', '||', '<<', '>>', '=', '<', '>', '+', '-', '*', '/', '%', '.', '&', '|', '~', '?', ':', '@', '$'];

/** SQLite's text form of a numeric literal: hexadecimal read as an integer, a real with a point */
function numberText(lit: string): string {
  if (/^0x/i.test(lit)) return BigInt.asIntN(64, BigInt(lit)).toString();
  if (/^\d+$/.test(lit)) {
    const n = BigInt(lit);
    return n <= 9223372036854775807n ? n.toString() : realText(Number(lit));
  }
  return realText(Number(lit));
}

/** SQLite's text form of a real */
export function realText(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
  const s = String(Number(v.toPrecision(15)));
  return /[.eE]/.test(s) ? s.replace(/e\+?/, 'e+').replace('e+-', 'e-') : `${s}.0`;
}

function tokenize(sql: string): Token[] | null {
  const out: Token[] = [];
  let depth = 0;
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
    } else if (rest.startsWith('--')) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= sql.length) return null;
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) {
            text += close;
            j += 2;
            continue;
          }
          break;
        }
        text += sql[j++];
      }
      out.push({ kind: c === "'" ? 'string' : 'quoted', text, depth, at: i, end: j + 1 });
      i = j + 1;
    } else if (NUMBER.test(rest)) {
      const m = rest.match(NUMBER)![0];
      out.push({ kind: 'number', text: m, depth, at: i, end: i + m.length });
      i += m.length;
    } else if (WORD.test(rest)) {
      const m = rest.match(WORD)![0];
      out.push({ kind: 'word', text: m.toUpperCase(), depth, at: i, end: i + m.length });
      i += m.length;
    } else if (c === '(') {
      out.push({ kind: '(', text: c, depth: depth++, at: i, end: i + 1 });
      i++;
    } else if (c === ')') {
      if (depth === 0) return null;
      out.push({ kind: ')', text: c, depth: --depth, at: i, end: i + 1 });
      i++;
    } else if (c === ',' || c === ';') {
      out.push({ kind: c, text: c, depth, at: i, end: i + 1 });
      i++;
    } else {
      const op = OPS.find((o) => rest.startsWith(o));
      if (!op) return null;
      out.push({ kind: 'op', text: op === '==' ? '=' : op, depth, at: i, end: i + op.length });
      i += op.length;
    }
  }
  return depth === 0 ? out : null;
}

const CLAUSE_END = new Set(['GROUP', 'ORDER', 'LIMIT', 'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'RETURNING']);
const COMPOUND = new Set(['UNION', 'INTERSECT', 'EXCEPT']);
// (a NATURAL join is an inner join on its common columns, unless LEFT, RIGHT or FULL: join.ts)
const OUTER = new Set(['LEFT', 'RIGHT', 'FULL', 'OUTER']);
/** words that may follow a table in FROM and so are not its alias */
const NOT_ALIAS = new Set([
  'WHERE', 'JOIN', 'INNER', 'CROSS', 'LEFT', 'RIGHT', 'FULL', 'NATURAL', 'ON', 'USING', 'GROUP', 'ORDER', 'LIMIT',
  'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'INDEXED', 'NOT',
]); // prettier-ignore

function isName(t: Token | undefined, name: string): boolean {
  return !!t && (t.kind === 'word' || t.kind === 'quoted') && t.text.toUpperCase() === name.toUpperCase();
}

/**
 * The constraints osqueryd would pass when `sql` scans `table` with these columns (`text` ones
 * lose their ranges: osquery's sensibleComparison drops them on TEXT columns)
 */
export function whereTerms(sql: string, table: string, columns: ReadonlySet<string>, text: ReadonlySet<string>): Term[] {
  const scan = scanOf(sql, table);
  if (!scan) return [];
  const terms: Term[] = [];
  const lists = { next: 1 };
  for (const conjunct of scan.conjuncts) terms.push(...termsOf(conjunct, scan.names, columns, text, lists, sql));
  return terms;
}

/** the terms comparing a column of `table` with a column of another table of the same SELECT */
export function joinTerms(sql: string, table: string, columns: ReadonlySet<string>, text: ReadonlySet<string>): JoinTerm[] {
  const scan = scanOf(sql, table);
  if (!scan) return [];
  return scan.conjuncts.flatMap((c) => joinTermOf(c, scan.names, columns, text) ?? []);
}

/** the names `table` goes by in `sql` (itself and its alias), when it is scanned once */
export function namesOf(sql: string, table: string): ReadonlySet<string> | null {
  return scanOf(sql, table)?.names ?? null;
}

/** the SELECT core scanning `table`, as scanOf finds it */
export interface Scan {
  names: Set<string>;
  /** the alias the query gives the table, if any */
  alias: string | null;
  /** the ANDed parts of its WHERE and inner joins' ON clauses */
  conjuncts: Token[][];
  /** the tokens of its SELECT core (subqueries inside it included), and those at its own depth */
  core: Token[];
  level: Token[];
  depth: number;
  /** a part of a compound SELECT (UNION, INTERSECT, EXCEPT) */
  compound: boolean;
}

/** where `table` is scanned: its names and the conjuncts SQLite may offer it; null where in doubt */
export function scanOf(sql: string, table: string): Scan | null {
  const tokens = tokenize(sql);
  if (!tokens) return null;
  const uses = tokens.flatMap((t, i) => (isName(t, table) && tokens[i - 1]?.text !== '.' && tokens[i + 1]?.text !== '.' ? [i] : []));
  if (uses.length !== 1) return null; // scanned twice or more: each scan has its own terms
  const at = uses[0];
  const depth = tokens[at].depth;
  // the SELECT core holding the scan: within its parentheses, between compound operators
  let from = at;
  while (from > 0 && !(tokens[from - 1].depth < depth || (tokens[from - 1].depth === depth && COMPOUND.has(tokens[from - 1].text)))) from--;
  let to = at;
  while (to < tokens.length && !(tokens[to].depth < depth || (tokens[to].depth === depth && (COMPOUND.has(tokens[to].text) || tokens[to].kind === ';')))) to++;
  const core = tokens.slice(from, to).filter((t) => t.depth >= depth);
  const level = core.filter((t) => t.depth === depth);
  if (level.some((t) => t.kind === 'word' && OUTER.has(t.text))) return null;
  const names = new Set([table.toUpperCase()]);
  const next = tokens[at + 1];
  const alias = next?.text === 'AS' && next.kind === 'word' ? tokens[at + 2] : next;
  const aliased = Boolean(alias && at + 1 < to && (alias.kind === 'quoted' || (alias.kind === 'word' && !NOT_ALIAS.has(alias.text))));
  if (aliased) names.add(alias.text.toUpperCase());

  const clauses: Token[][] = [];
  for (let i = 0; i < core.length; i++) {
    const t = core[i];
    if (t.depth !== depth || t.kind !== 'word' || (t.text !== 'WHERE' && t.text !== 'ON')) continue;
    let j = i + 1;
    while (
      j < core.length &&
      !(
        core[j].depth === depth &&
        core[j].kind === 'word' &&
        (CLAUSE_END.has(core[j].text) || ['JOIN', 'INNER', 'CROSS', 'WHERE', 'ON'].includes(core[j].text))
      )
    )
      j++;
    clauses.push(core.slice(i + 1, j));
    i = j - 1;
  }
  const compound =
    (from > 0 && tokens[from - 1].depth === depth && COMPOUND.has(tokens[from - 1].text)) ||
    (to < tokens.length && tokens[to].depth === depth && COMPOUND.has(tokens[to].text));
  return {
    names,
    alias: aliased ? (alias.kind === 'word' ? sql.slice(alias.at, alias.end) : alias.text) : null,
    conjuncts: clauses.flatMap((clause) => conjuncts(clause, depth)),
    core,
    level,
    depth,
    compound,
  };
}

/** the statement's text of a run of its tokens */
export function sourceOf(ts: readonly Token[], sql: string): string {
  return ts.length ? sql.slice(ts[0].at, ts[ts.length - 1].end) : '';
}

/** the terms SQLite offers for one conjunct (`text` columns keep their ranges here: no osquery rule applied) */
export function conjunctTerms(conjunct: Token[], scan: Scan, columns: ReadonlySet<string>, sql: string): Term[] {
  return termsOf(conjunct, scan.names, columns, new Set(), { next: 1 }, sql);
}

/** a conjunct's disjuncts: the parts ORed at its top, parenthesised disjunctions opened up (SQLite's OR clause) */
export function disjunctsOf(ts: Token[]): Token[][] {
  const top = Math.min(...ts.map((t) => t.depth));
  const parts: Token[][] = [[]];
  for (const t of ts) {
    if (t.depth === top && t.kind === 'word' && t.text === 'OR') parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  if (parts.length === 1) {
    const p = parts[0];
    const wrapped = p.length > 2 && p[0].kind === '(' && p[p.length - 1].kind === ')' && p.slice(1, -1).every((t) => t.depth > top);
    return wrapped && disjunctsOf(p.slice(1, -1)).length > 1 ? disjunctsOf(p.slice(1, -1)) : [p];
  }
  return parts.flatMap((p) => disjunctsOf(p));
}

/** the parts of an expression ANDed at `depth`, parenthesised conjunctions opened up */
function conjuncts(expr: Token[], depth: number): Token[][] {
  // OR binds looser than AND: `a AND b OR c` is `(a AND b) OR c`, one disjunction, and no
  // part of it holds for every row the query keeps
  if (expr.some((t) => t.depth === depth && t.kind === 'word' && t.text === 'OR')) return [expr];
  const out: Token[][] = [];
  let part: Token[] = [];
  let between = false;
  for (const t of expr) {
    if (t.depth === depth && t.kind === 'word' && t.text === 'BETWEEN') between = true;
    if (t.depth === depth && t.kind === 'word' && t.text === 'AND') {
      if (between) between = false;
      else {
        out.push(part);
        part = [];
        continue;
      }
    }
    part.push(t);
  }
  out.push(part);
  return out.flatMap((p) =>
    p.length > 2 && p[0].kind === '(' && p[p.length - 1].kind === ')' && p.slice(1, -1).every((t) => t.depth > depth)
      ? conjuncts(p.slice(1, -1), depth + 1)
      : [p],
  );
}

/** a constant, with SQLite's text form: a string, or a number with an optional sign */
function constant(ts: Token[]): string | null {
  if (ts.length === 1 && ts[0].kind === 'string') return ts[0].text;
  if (ts.length === 1 && ts[0].kind === 'number') return numberText(ts[0].text);
  if (ts.length === 2 && ts[0].kind === 'op' && (ts[0].text === '-' || ts[0].text === '+') && ts[1].kind === 'number') {
    const n = numberText(ts[1].text);
    return ts[0].text === '-' && !n.startsWith('-') ? `-${n}` : n;
  }
  return null;
}

/** the column a term names, `col`, `t.col` or `alias.col`, with COLLATE after it allowed */
function columnAt(ts: Token[], names: ReadonlySet<string>, columns: ReadonlySet<string>): { column: string; length: number } | null {
  let i = 0;
  if (ts[1]?.text === '.' && ts[1].kind === 'op') {
    if (!(ts[0].kind === 'word' || ts[0].kind === 'quoted') || !names.has(ts[0].text.toUpperCase())) return null;
    i = 2;
  }
  const t = ts[i];
  if (!t || !(t.kind === 'word' || t.kind === 'quoted')) return null;
  const column = [...columns].find((c) => c.toUpperCase() === t.text.toUpperCase());
  if (!column) return null;
  let length = i + 1;
  if (ts[length]?.text === 'COLLATE' && ts[length + 1]) length += 2;
  return { column, length };
}

/** the comparison a conjunct starts with after its column: its op code, and how many tokens it takes */
function comparison(ts: Token[], at: number): { op: number; length: number } | null {
  const t = ts[at];
  if (t?.kind === 'op') {
    if (t.text === '=') return { op: EQUALS, length: 1 };
    if (t.text === '!=' || t.text === '<>') return { op: NOT_EQUALS, length: 1 };
    if (RANGE[t.text]) return { op: RANGE[t.text], length: 1 };
  }
  if (t?.kind === 'word' && t.text === 'IS')
    return ts[at + 1]?.kind === 'word' && ts[at + 1].text === 'NOT' ? { op: IS_NOT, length: 2 } : { op: IS, length: 1 };
  return null;
}

/** the op of `value op col` once SQLite turns it round to `col op' value` */
function commuted(op: number): number {
  const name = Object.keys(RANGE).find((k) => RANGE[k] === op);
  return name ? RANGE[COMMUTED[name]] : op;
}

/** words and operators that bind no tighter than a comparison */
const LOOSE = new Set([
  'AND',
  'OR',
  'NOT',
  'IS',
  'IN',
  'LIKE',
  'GLOB',
  'MATCH',
  'REGEXP',
  'BETWEEN',
  'ESCAPE',
  'COLLATE',
  'ISNULL',
  'NOTNULL',
  '=',
  '!=',
  '<>',
  '<',
  '>',
  '<=',
  '>=',
]);

/** a literal's text, or an expression's SQL for the caller to evaluate; null for nothing */
function valueOf(ts: Token[], source: string): { expr: string } | { sql: string } | null {
  const literal = constant(ts);
  if (literal !== null) return { expr: literal };
  // an operator binding as loosely as the comparison (`time = 5 AND score > 0`) ends its value
  // there, and SQLite's term is not `time = <all of it>`: nothing, rather than a wrong value
  const top = Math.min(...ts.map((t) => t.depth));
  const loose = ts.some((t) => t.depth === top && ((t.kind === 'word' && LOOSE.has(t.text)) || (t.kind === 'op' && LOOSE.has(t.text))));
  return ts.length && !loose ? { sql: source.slice(ts[0].at, ts[ts.length - 1].end) } : null;
}

function termsOf(
  ts: Token[],
  names: ReadonlySet<string>,
  columns: ReadonlySet<string>,
  text: ReadonlySet<string>,
  lists: { next: number },
  source: string,
): Term[] {
  const withoutCollate = (xs: Token[]) => (xs.length > 2 && xs[xs.length - 2].text === 'COLLATE' ? xs.slice(0, -2) : xs);
  const isRange = (op: number) => Object.values(RANGE).includes(op);
  const keep = (column: string, op: number, value: { expr: string } | { sql: string } | null, list?: number): Term[] =>
    value === null || (isRange(op) && text.has(column)) ? [] : [{ column, op, expr: 'expr' in value ? value.expr : '', ...value, ...(list ? { list } : {}) }];
  const top = Math.min(...ts.map((t) => t.depth));
  // `col = a OR col = b OR col IN (c)`: SQLite's OR optimisation makes it one IN list on col
  if (ts.some((t) => t.depth === top && t.kind === 'word' && t.text === 'OR')) {
    const parts: Token[][] = [[]];
    for (const t of ts) {
      if (t.depth === top && t.kind === 'word' && t.text === 'OR') parts.push([]);
      else parts[parts.length - 1].push(t);
    }
    const each = parts.map((p) => termsOf(p, names, columns, text, lists, source));
    const all = each.flat();
    // (only `col = value` disjuncts: an IN list of two or more, or of a subquery, is no WO_EQ
    // term, and the OR stays an OR, scanned once per disjunct: multi-or.ts)
    const one =
      all.length > 0 &&
      each.every((p) => p.length === 1 && p[0].op === EQUALS && p[0].list === undefined && p[0].subquery === undefined && p[0].column === all[0].column);
    if (!one) return [];
    const list = lists.next++;
    return all.map((x) => ({ ...x, list }));
  }
  const col = columnAt(ts, names, columns);
  if (col) {
    const cmp = comparison(ts, col.length);
    const op = ts[col.length];
    const rest = ts.slice(col.length + (cmp?.length ?? 1));
    if (cmp) return keep(col.column, cmp.op, valueOf(withoutCollate(rest), source));
    if (op?.kind === 'word' && (op.text === 'LIKE' || op.text === 'GLOB') && !rest.some((t) => t.text === 'ESCAPE'))
      return keep(col.column, op.text === 'LIKE' ? LIKE : GLOB, valueOf(rest, source));
    if (op?.kind === 'word' && op.text === 'BETWEEN') {
      const and = rest.findIndex((t) => t.kind === 'word' && t.text === 'AND' && t.depth === op.depth);
      const lo = valueOf(rest.slice(0, and), source);
      const hi = valueOf(rest.slice(and + 1), source);
      return and < 0 || lo === null || hi === null ? [] : [...keep(col.column, RANGE['>='], lo), ...keep(col.column, RANGE['<='], hi)];
    }
    if (op?.kind === 'word' && op.text === 'IN' && rest[0]?.kind === '(' && rest[rest.length - 1]?.kind === ')') {
      const inner = rest.slice(1, -1);
      const items: Token[][] = [[]];
      for (const t of inner) {
        if (t.kind === ',' && t.depth === rest[0].depth + 1) items.push([]);
        else items[items.length - 1].push(t);
      }
      // a subquery is a list too, of values SQLite reads at run time (an ephemeral index of them)
      if (inner[0]?.kind === 'word' && (inner[0].text === 'SELECT' || inner[0].text === 'WITH' || inner[0].text === 'VALUES'))
        return [{ column: col.column, op: EQUALS, expr: '', subquery: sourceOf(inner, source), list: lists.next++ }];
      const values = items.map((item) => valueOf(item, source));
      if (!values.length || values.some((v) => v === null)) return [];
      // one value is `col = value` to SQLite: no list to loop over
      const list = values.length > 1 ? lists.next++ : undefined;
      return values.flatMap((v) => keep(col.column, EQUALS, v, list));
    }
    return [];
  }
  // `value op col`: SQLite commutes the comparison
  for (let at = 1; at < ts.length; at++) {
    const cmp = comparison(ts, at);
    if (!cmp) continue;
    const right = columnAt(ts.slice(at + cmp.length), names, columns);
    if (!right || at + cmp.length + right.length !== ts.length) return [];
    return keep(right.column, commuted(cmp.op), valueOf(withoutCollate(ts.slice(0, at)), source));
  }
  return [];
}

/** `col op q.other` or `q.other op col`, q another table of the SELECT: a join term */
function joinTermOf(ts: Token[], names: ReadonlySet<string>, columns: ReadonlySet<string>, text: ReadonlySet<string>): JoinTerm | null {
  const other = (xs: Token[]): { other: string; otherColumn: string } | null =>
    xs.length === 3 &&
    (xs[0].kind === 'word' || xs[0].kind === 'quoted') &&
    xs[1].text === '.' &&
    (xs[2].kind === 'word' || xs[2].kind === 'quoted') &&
    !names.has(xs[0].text.toUpperCase())
      ? { other: xs[0].text, otherColumn: xs[2].text }
      : null;
  const term = (column: string, op: number, o: { other: string; otherColumn: string } | null): JoinTerm | null =>
    o && op !== IS_NOT && op !== IS && !(Object.values(RANGE).includes(op) && text.has(column)) ? { column, op, ...o } : null;
  const col = columnAt(ts, names, columns);
  if (col) {
    const cmp = comparison(ts, col.length);
    return cmp ? term(col.column, cmp.op, other(ts.slice(col.length + cmp.length))) : null;
  }
  for (let at = 1; at < ts.length; at++) {
    const cmp = comparison(ts, at);
    if (!cmp) continue;
    const right = columnAt(ts.slice(at + cmp.length), names, columns);
    if (!right || at + cmp.length + right.length !== ts.length) return null;
    return term(right.column, commuted(cmp.op), other(ts.slice(0, at)));
  }
  return null;
}
