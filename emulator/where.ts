// Which WHERE terms SQLite hands a virtual table's xBestIndex, and so which constraints
// osqueryd puts in a generate context. SQLite offers a term only when it is one of the
// conjuncts (the ANDed parts) of the WHERE or an inner join's ON clause of the SELECT that
// scans the table, compares one of its columns with a constant, and is of a form the planner
// knows: `col op value` or `value op col` (commuted), `col BETWEEN a AND b` (two terms),
// `col IN (values)` (one EQUALS per value), `col LIKE|GLOB pattern`. A term under OR or NOT,
// in the select list, or on another table is never a constraint: passing one would let the
// table filter rows the query keeps, which no real osqueryd does. Where in doubt (the table
// scanned twice, an outer join) this passes nothing, which is always a plan SQLite may choose.

export const LIKE = 65;
export const GLOB = 66;
const EQUALS = 2;
const RANGE: Record<string, number> = { '>': 4, '<=': 8, '<': 16, '>=': 32 };
const COMMUTED: Record<string, string> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=' };

export interface Term {
  column: string;
  op: number;
  expr: string;
}

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'op' | '(' | ')' | ',' | ';';
  /** a word upper-cased, an identifier unquoted, a string's value, a number as SQLite prints it */
  text: string;
  depth: number;
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

function realText(v: number): string {
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
      out.push({ kind: c === "'" ? 'string' : 'quoted', text, depth });
      i = j + 1;
    } else if (NUMBER.test(rest)) {
      const m = rest.match(NUMBER)![0];
      out.push({ kind: 'number', text: m, depth });
      i += m.length;
    } else if (WORD.test(rest)) {
      const m = rest.match(WORD)![0];
      out.push({ kind: 'word', text: m.toUpperCase(), depth });
      i += m.length;
    } else if (c === '(') {
      out.push({ kind: '(', text: c, depth: depth++ });
      i++;
    } else if (c === ')') {
      if (depth === 0) return null;
      out.push({ kind: ')', text: c, depth: --depth });
      i++;
    } else if (c === ',' || c === ';') {
      out.push({ kind: c, text: c, depth });
      i++;
    } else {
      const op = OPS.find((o) => rest.startsWith(o));
      if (!op) return null;
      out.push({ kind: 'op', text: op === '==' ? '=' : op, depth });
      i += op.length;
    }
  }
  return depth === 0 ? out : null;
}

const CLAUSE_END = new Set(['GROUP', 'ORDER', 'LIMIT', 'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'RETURNING']);
const COMPOUND = new Set(['UNION', 'INTERSECT', 'EXCEPT']);
const OUTER = new Set(['LEFT', 'RIGHT', 'FULL', 'OUTER', 'NATURAL', 'USING']);
/** words that may follow a table in FROM and so are not its alias */
const NOT_ALIAS = new Set([
  'WHERE', 'JOIN', 'INNER', 'CROSS', 'LEFT', 'RIGHT', 'FULL', 'NATURAL', 'ON', 'USING', 'GROUP', 'ORDER', 'LIMIT',
  'HAVING', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'INDEXED', 'NOT',
]); // prettier-ignore

function isName(t: Token | undefined, name: string): boolean {
  return !!t && (t.kind === 'word' || t.kind === 'quoted') && t.text.toUpperCase() === name.toUpperCase();
}

/**
 * The constraints osqueryd would pass when `sql` scans `table` with these columns (numeric
 * ones named in `numeric`, where ranges are kept: osquery drops ranges on TEXT columns)
 */
export function whereTerms(sql: string, table: string, columns: ReadonlySet<string>, numeric: ReadonlySet<string>): Term[] {
  const tokens = tokenize(sql);
  if (!tokens) return [];
  const uses = tokens.flatMap((t, i) => (isName(t, table) && tokens[i - 1]?.text !== '.' && tokens[i + 1]?.text !== '.' ? [i] : []));
  if (uses.length !== 1) return []; // scanned twice or more: each scan has its own terms
  const at = uses[0];
  const depth = tokens[at].depth;
  // the SELECT core holding the scan: within its parentheses, between compound operators
  let from = at;
  while (from > 0 && !(tokens[from - 1].depth < depth || (tokens[from - 1].depth === depth && COMPOUND.has(tokens[from - 1].text)))) from--;
  let to = at;
  while (to < tokens.length && !(tokens[to].depth < depth || (tokens[to].depth === depth && (COMPOUND.has(tokens[to].text) || tokens[to].kind === ';')))) to++;
  const core = tokens.slice(from, to).filter((t) => t.depth >= depth);
  const level = core.filter((t) => t.depth === depth);
  if (level.some((t) => t.kind === 'word' && OUTER.has(t.text))) return [];
  const names = new Set([table.toUpperCase()]);
  const next = tokens[at + 1];
  const alias = next?.text === 'AS' && next.kind === 'word' ? tokens[at + 2] : next;
  if (alias && at + 1 < to && (alias.kind === 'quoted' || (alias.kind === 'word' && !NOT_ALIAS.has(alias.text)))) names.add(alias.text.toUpperCase());

  const terms: Term[] = [];
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
  for (const clause of clauses) for (const conjunct of conjuncts(clause, depth)) terms.push(...termsOf(conjunct, names, columns, numeric));
  return terms;
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

function termsOf(ts: Token[], names: ReadonlySet<string>, columns: ReadonlySet<string>, numeric: ReadonlySet<string>): Term[] {
  const withoutCollate = (xs: Token[]) => (xs.length > 2 && xs[xs.length - 2].text === 'COLLATE' ? xs.slice(0, -2) : xs);
  const keep = (column: string, op: number, expr: string | null): Term[] =>
    expr === null || (op !== EQUALS && op !== LIKE && op !== GLOB && !numeric.has(column)) ? [] : [{ column, op, expr }];
  const col = columnAt(ts, names, columns);
  if (col) {
    const op = ts[col.length];
    const rest = ts.slice(col.length + 1);
    if (op?.kind === 'op' && (op.text === '=' || RANGE[op.text]))
      return keep(col.column, op.text === '=' ? EQUALS : RANGE[op.text], constant(withoutCollate(rest)));
    if (op?.kind === 'word' && (op.text === 'LIKE' || op.text === 'GLOB') && !rest.some((t) => t.text === 'ESCAPE'))
      return keep(col.column, op.text === 'LIKE' ? LIKE : GLOB, constant(rest));
    if (op?.kind === 'word' && op.text === 'BETWEEN') {
      const and = rest.findIndex((t) => t.kind === 'word' && t.text === 'AND' && t.depth === op.depth);
      const lo = constant(rest.slice(0, and));
      const hi = constant(rest.slice(and + 1));
      return and < 0 || lo === null || hi === null ? [] : [...keep(col.column, RANGE['>='], lo), ...keep(col.column, RANGE['<='], hi)];
    }
    if (op?.kind === 'word' && op.text === 'IN' && rest[0]?.kind === '(' && rest[rest.length - 1]?.kind === ')') {
      const inner = rest.slice(1, -1);
      const items: Token[][] = [[]];
      for (const t of inner) {
        if (t.kind === ',' && t.depth === rest[0].depth + 1) items.push([]);
        else items[items.length - 1].push(t);
      }
      const values = items.map(constant);
      return values.length && values.every((v) => v !== null) ? values.flatMap((v) => keep(col.column, EQUALS, v)) : [];
    }
    return [];
  }
  // `value op col`: SQLite commutes the comparison
  const opAt = ts.findIndex((t) => t.kind === 'op' && (t.text === '=' || RANGE[t.text]));
  if (opAt <= 0) return [];
  const right = columnAt(ts.slice(opAt + 1), names, columns);
  if (!right || opAt + 1 + right.length !== ts.length) return [];
  const op = ts[opAt].text;
  return keep(right.column, op === '=' ? EQUALS : RANGE[COMMUTED[op]], constant(withoutCollate(ts.slice(0, opAt))));
}
