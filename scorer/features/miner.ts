// An online log-template miner after Drain (He et al., ICWS 2017): a fixed-depth tree keyed
// by token count and leading tokens leads to a few candidate templates; the most similar one
// absorbs the line (differing positions become <*>) or a new template starts. Command lines
// are mined the same way, so `tar czf /tmp/a.tgz x` and `tar czf /tmp/b.tgz y` become one
// `tar czf <*> <*>`.

export const WILDCARD = '<*>';

export interface MinerOptions {
  /** similarity a line needs to join a template */
  similarity: number;
  /** tree depth as Drain counts it: the root, the length layer, depth − 3 token layers, the leaves */
  depth: number;
  maxChildren: number;
  /** regexes whose matches are masked to <*> before mining */
  masks: RegExp[];
  /** templates kept at most; the least used are forgotten past it */
  maxTemplates: number;
  /**
   * The first token of a line names a scope (whose line it is): a line joins only a template
   * of its own scope, so one scope's lines never generalise another's templates
   */
  scoped: boolean;
}

interface Cluster {
  id: number;
  tokens: string[];
  size: number;
}

interface Node {
  children: Map<string, Node>;
  clusters: Cluster[];
}

const HAS_DIGIT = /\d/;
/**
 * Characters the templates hold at most, whatever their count: a local user's command lines of
 * new words are up to 4,096 characters each (extract.ts MAX_COMMAND), and 20,000 of them held
 * some 70 MB (rootsafe). Routine templates are tens of characters.
 */
const MAX_TEMPLATE_CHARS = 8_000_000;

function charsOf(tokens: readonly string[]): number {
  let n = tokens.length;
  for (const t of tokens) n += t.length;
  return n;
}

export interface MinerState {
  options: { similarity: number; depth: number; maxChildren: number; masks: string[]; maxTemplates: number; scoped?: boolean };
  clusters: Array<[number, string[], number]>;
}

export class TemplateMiner {
  private readonly root: Node = { children: new Map(), clusters: [] };
  private readonly opts: MinerOptions;
  private nextId = 1;
  private count = 0;
  /** characters the templates hold (charsOf, as created: a template's <*> are shorter) */
  private chars = 0;

  heldChars(): number {
    return this.chars;
  }

  constructor(opts: Partial<MinerOptions> = {}) {
    this.opts = { similarity: 0.5, depth: 4, maxChildren: 100, masks: [], maxTemplates: 5000, scoped: false, ...opts };
  }

  /** the template id and text a line belongs to, learning from it */
  add(line: string): { id: number; template: string } {
    const tokens = this.tokens(line);
    const best = this.bestMatch(tokens);
    if (best) {
      for (let i = 0; i < tokens.length; i++) if (best.tokens[i] !== tokens[i]) best.tokens[i] = WILDCARD;
      best.size++;
      return { id: best.id, template: best.tokens.join(' ') };
    }
    const cluster = this.create(tokens);
    return { id: cluster.id, template: tokens.join(' ') };
  }

  /** the template a line would join, without learning; the masked line when none fits */
  match(line: string): string {
    const tokens = this.tokens(line);
    return (this.bestMatch(tokens)?.tokens ?? tokens).join(' ');
  }

  /** the template a line would join, without learning; null when none fits */
  template(line: string): string | null {
    return this.bestMatch(this.tokens(line))?.tokens.join(' ') ?? null;
  }

  /** start a template of this text as it is (one taken over from another miner), joining none */
  seed(template: string): void {
    this.create(this.tokens(template));
  }

  private create(tokens: string[]): Cluster {
    const cluster: Cluster = { id: this.nextId++, tokens, size: 1 };
    this.insert(cluster);
    this.count++;
    this.chars += charsOf(tokens);
    if (this.count > this.opts.maxTemplates || this.chars > MAX_TEMPLATE_CHARS) this.forget(cluster);
    return cluster;
  }

  /** search: a literal child if there is one, else the wildcard child (Drain's treeSearch) */
  private bestMatch(tokens: string[]): Cluster | null {
    let node = this.root.children.get(String(tokens.length));
    const levels = Math.min(this.opts.depth - 3, tokens.length);
    for (let i = 0; node && i < levels; i++) node = node.children.get(tokens[i]) ?? node.children.get(WILDCARD);
    if (!node) return null;
    let best: Cluster | null = null;
    let bestSim = -1;
    let bestParams = -1;
    for (const c of node.clusters) {
      // past maxChildren scopes share the wildcard child: a template of another scope is never a candidate
      if (this.opts.scoped && c.tokens[0] !== tokens[0]) continue;
      // the scope is equal in every candidate: counted, it was one more word alike, and one-word
      // commands with a digit (one leaf) were 1 of 2 alike, enough to become `<*>`
      const [sim, params] = similarity(c.tokens, tokens, this.opts.scoped ? 1 : 0);
      if (sim > bestSim || (sim === bestSim && params > bestParams)) {
        best = c;
        bestSim = sim;
        bestParams = params;
      }
    }
    return best && bestSim >= this.opts.similarity ? best : null;
  }

  /** insert: tokens with digits, and tokens past the fan-out limit, share the wildcard child */
  private insert(cluster: Cluster): void {
    const tokens = cluster.tokens;
    const lengthKey = String(tokens.length);
    let node: Node | undefined = this.root.children.get(lengthKey);
    if (!node) this.root.children.set(lengthKey, (node = { children: new Map(), clusters: [] }));
    const levels = Math.min(this.opts.depth - 3, tokens.length);
    for (let i = 0; i < levels; i++) {
      const token = tokens[i];
      let next: Node | undefined = node.children.get(token);
      if (!next) {
        const size = node.children.size;
        const hasWild = node.children.has(WILDCARD);
        let key = WILDCARD;
        if (!HAS_DIGIT.test(token) && (hasWild ? size < this.opts.maxChildren : size + 1 < this.opts.maxChildren)) key = token;
        next = node.children.get(key);
        if (!next) node.children.set(key, (next = { children: new Map(), clusters: [] }));
      }
      node = next;
    }
    node.clusters.push(cluster);
  }

  private tokens(line: string): string[] {
    let s = line;
    for (const m of this.opts.masks) s = s.replace(m, WILDCARD);
    return s.trim().split(/\s+/).filter(Boolean);
  }

  /**
   * Drop the least used half of the templates when there are too many (ties: the older
   * first), so the tree stays bounded and the next few hundred new templates have room. The
   * template that overflowed is kept: it is the newest, not the least useful. Scoped, a scope
   * that holds more than half of them forgets half of its own: the tree is one for every
   * subject of the host, and a local user who ran 20,000 commands of new shapes three times
   * each made every other account's templates used less than that forgotten, and the next
   * usual line of each a literal command its models never learnt (rootsafe). Past
   * MAX_TEMPLATE_CHARS the same, a scope's share counted in characters
   */
  private forget(newest: Cluster): void {
    let all: Cluster[] = [];
    const collect = (n: Node) => {
      all.push(...n.clusters);
      for (const c of n.children.values()) collect(c);
    };
    collect(this.root);
    all.splice(all.indexOf(newest), 1);
    const total = all.length;
    const every = all;
    // held in templates or in characters, as the bound was passed
    const byChars = this.chars > MAX_TEMPLATE_CHARS;
    const weight = (c: Cluster) => (byChars ? charsOf(c.tokens) : 1);
    if (this.opts.scoped) {
      let sum = 0;
      const held = new Map<string, number>();
      for (const c of all) {
        const w = weight(c);
        sum += w;
        held.set(c.tokens[0], (held.get(c.tokens[0]) ?? 0) + w);
      }
      for (const [scope, n] of held)
        if (n > sum / 2) {
          all = all.filter((c) => c.tokens[0] === scope);
          break;
        }
    }
    all.sort((a, b) => a.size - b.size || a.id - b.id);
    const drop = new Set(all.slice(0, Math.floor(all.length / 2)));
    const prune = (n: Node) => {
      n.clusters = n.clusters.filter((c) => !drop.has(c));
      for (const c of n.children.values()) prune(c);
    };
    prune(this.root);
    this.count = total - drop.size + 1;
    this.chars = charsOf(newest.tokens);
    for (const c of every) if (!drop.has(c)) this.chars += charsOf(c.tokens);
  }

  toState(): MinerState {
    const clusters: Array<[number, string[], number]> = [];
    const walk = (n: Node) => {
      for (const c of n.clusters) clusters.push([c.id, c.tokens, c.size]);
      for (const child of n.children.values()) walk(child);
    };
    walk(this.root);
    const o = this.opts;
    return {
      options: {
        similarity: o.similarity,
        depth: o.depth,
        maxChildren: o.maxChildren,
        masks: o.masks.map((m) => m.source),
        maxTemplates: o.maxTemplates,
        scoped: o.scoped,
      },
      clusters,
    };
  }

  static fromState(state: MinerState): TemplateMiner {
    const o = state.options;
    const miner = new TemplateMiner({ ...o, masks: o.masks.map((m) => new RegExp(m, 'g')) });
    for (const [id, tokens, size] of state.clusters) {
      miner.insert({ id, tokens, size });
      miner.nextId = Math.max(miner.nextId, id + 1);
      miner.count++;
      miner.chars += charsOf(tokens);
    }
    return miner;
  }
}

/**
 * Drain's sequence distance: share of equal positions, and how many of them are wildcards,
 * from position `from` on (1 past a scope). A line of the scope alone (an empty command) is
 * its template's.
 */
function similarity(template: string[], tokens: string[], from = 0): [number, number] {
  if (template.length <= from) return [1, 0];
  let same = 0;
  let params = 0;
  for (let i = from; i < template.length; i++) {
    if (template[i] === WILDCARD) {
      params++;
      continue;
    }
    if (template[i] === tokens[i]) same++;
  }
  return [same / (template.length - from), params];
}
