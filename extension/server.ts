import * as fs from 'fs';
import * as path from 'path';
import * as net from 'net';
import { echo, Throttled, type LogFn } from './log';
import type { Plugin, PluginResponse, Row } from './plugin/types';
import { sunPathProblem } from './sun-path';
import { ByteBudget, MessageReader, MessageType, MessageWriter, Oversize, ProtocolError, TType, type Message, type Value } from './wire';
import { LARGEST_LINE } from './shrink-line';

// The extension's own Thrift server on `<manager socket>.<uuid>`: ping, call, shutdown.
// Every request is answered from the event loop without waiting on scoring or training, and
// a failing plugin becomes status code 1 with its message, never a dropped connection.
//
// Local users can reach this socket only if its mode lets them (0600, root's), but the
// server does not trust its peers either: connections, the bytes one connection may hold,
// the bytes one answer may take, and the time a connection may sit idle are all bounded.

export interface ServerLimits {
  /** connections held at once; a new one evicts the longest idle */
  maxConnections: number;
  /** a connection with no complete request for this long is closed */
  idleMs: number;
  /** one string of a request (a result line, a query context) longer than this is read past */
  maxString: number;
  /** string bytes one request may keep */
  maxMessage: number;
  /** string bytes all connections together may keep */
  maxShared: number;
  /** encoded bytes of one answer; a table answer that passes it is refused with a status that says so */
  maxReply: number;
  /**
   * encoded bytes of all answers in flight together (made, or sent and not yet taken by their
   * readers); never less than one whole answer (maxReply) and a step
   */
  maxAnswers: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 64,
  idleMs: 30_000,
  maxString: LARGEST_LINE,
  maxMessage: 32 * 1024 * 1024,
  maxShared: 128 * 1024 * 1024,
  maxReply: 64 * 1024 * 1024,
  maxAnswers: 64 * 1024 * 1024,
};

export interface ServerOptions {
  path: string;
  plugins: readonly Plugin[];
  onShutdown: () => void;
  log: LogFn;
  limits?: Partial<ServerLimits>;
}

export interface ExtensionServer {
  readonly path: string;
  /** connections open now */
  readonly connections: number;
  /** table calls received so far (a rehearsal is not one) */
  readonly tableCalls: number;
  /** stop listening, drop idle connections, let calls under way finish (at most `graceMs`) */
  close(graceMs?: number): Promise<void>;
  /**
   * Answer a plugin call as `call` does (the plugin, the rows checked and encoded into the
   * writer's parts) but stop after `maxRows` rows and send nothing: a rehearsal that lets V8
   * compile the answer's path before osqueryd's first query needs it (extension/warm.ts).
   * It gives way to osqueryd: a table call that arrives meanwhile ends it at the next turn.
   * Resolves to the rows written, or null when the answer was refused or gave way.
   */
  rehearse(registry: string, item: string, request: Record<string, string>, maxRows: number): Promise<number | null>;
}

/** pending connections the kernel queues before refusing (see listen below) */
const LISTEN_BACKLOG = 4096;
/** rows are yielded to the event loop every this many, so pings and SIGTERM get through */
const ROWS_PER_TURN = 512;
/** a reply's first buffer: a logger's whole answer is ~60 bytes (more parts are added as needed) */
const REPLY_FIRST_PART = 256;
/** what a plugin is told when no request value was read past: one shared empty map */
const NO_OVERSIZE: ReadonlyMap<string, number> = new Map();
/**
 * a rehearsal (warm.ts) yields more often: a table call from osqueryd that arrives during one
 * waits for it to reach its next turn, and in a cold process 512 rows take several ms
 */
const REHEARSAL_ROWS_PER_TURN = 64;
/** an answer takes its bytes from the budget all answers share in steps of this much */
const ANSWER_STEP = 1024 * 1024;
/** an answer that gives way to others is made again from the start, up to this many times in all, then refused */
const ANSWER_ATTEMPTS = 4;
/** what writeResponse returns for an answer that gave way and may be made again */
const AGAIN = Symbol('again');

/**
 * The bytes all answers in flight may hold together, in steps. Each connection has one answer
 * in flight at most, but up to maxConnections (64) may each have one of up to maxReply (64 MB):
 * 4 GB at worst, where osqueryd's watchdog allows 200 MB of growth (32 connections each asking
 * for a 13 MB answer grew resident memory by 491 MB). An answer that finds the budget spent
 * waits, first come first served, for bytes another answer gives back once its reader has
 * taken it. When every answer that holds bytes is waiting for more, none can give any back:
 * the one that holds least is refused and gives its bytes back (the server makes a table's
 * rows again from the start, ANSWER_ATTEMPTS in all, then answers a status that says why).
 * Pings and logger calls take nothing from it: they are answered at once, whatever it holds.
 */
export class AnswerBudget {
  used = 0;
  /** answers that hold bytes */
  private holders = 0;
  private readonly waiting: Array<{ holder: { held: number }; need: number; done: (granted: boolean) => void }> = [];
  /**
   * `building`: answers that may hold bytes at once; more wait to begin. Begun all at once,
   * 32 answers of 13 MB shared 65 MB two apiece, all waited for more, and 27 had to give way;
   * begun a few at a time, and only while none under way waits, few do
   */
  constructor(
    readonly max: number,
    private readonly building = 8,
  ) {}

  /** `need` more bytes for `holder`: true at once or when given, false when refused */
  take(holder: { held: number }, need: number): boolean | Promise<boolean> {
    if (holder.held + need > this.max) return false;
    if (!this.waiting.length && this.fits(holder, need)) {
      this.grant(holder, need);
      return true;
    }
    return new Promise<boolean>((done) => {
      this.waiting.push({ holder, need, done });
      this.unblock();
    });
  }

  /** a holder whose caller left stops waiting: refused, so that it gives back what it holds now rather than at its turn */
  cancel(holder: { held: number }): void {
    const k = this.waiting.findIndex((w) => w.holder === holder);
    if (k < 0) return;
    const [w] = this.waiting.splice(k, 1);
    w.done(false);
  }

  /** give back all a holder holds */
  give(holder: { held: number }): void {
    if (holder.held === 0) return;
    this.used -= holder.held;
    holder.held = 0;
    this.holders--;
    this.unblock();
  }

  private fits(holder: { held: number }, need: number): boolean {
    if (this.used + need > this.max) return false;
    if (holder.held > 0) return true;
    // a new answer begins only when those under way are not short of bytes: begun among them,
    // it would be the one that holds least when they all wait, and be the one to give way
    return this.holders < this.building && !this.waiting.some((w) => w.holder.held > 0);
  }

  private grant(holder: { held: number }, need: number): void {
    if (holder.held === 0) this.holders++;
    this.used += need;
    holder.held += need;
  }

  private pump(): void {
    // first come first served among those that may go on: an answer under way is not held up
    // by one waiting to begin
    for (let k = 0; k < this.waiting.length;) {
      const w = this.waiting[k];
      if (!this.fits(w.holder, w.need)) {
        if (w.holder.held > 0) break;
        k++;
        continue;
      }
      this.waiting.splice(k, 1);
      this.grant(w.holder, w.need);
      w.done(true);
      // a grant may let one passed over begin (no answer under way waits any more)
      k = 0;
    }
  }

  /** when every byte held is held by an answer that waits, the waiter that holds least gives way */
  private unblock(): void {
    this.pump();
    if (!this.waiting.length) return;
    let waitingHeld = 0;
    let least: (typeof this.waiting)[number] | null = null;
    for (const w of this.waiting) {
      waitingHeld += w.holder.held;
      if (w.holder.held > 0 && (!least || w.holder.held < least.holder.held)) least = w;
    }
    if (waitingHeld < this.used || !least) return;
    this.waiting.splice(this.waiting.indexOf(least), 1);
    least.done(false);
  }
}

interface Conn {
  socket: net.Socket;
  reader: MessageReader;
  lastActive: number;
  /** calls being answered */
  busy: number;
  /** requests read while another was answered, or while its answer waited for the reader */
  waiting: Message[];
  /** bytes of the shared budget the waiting requests hold */
  waitingHeld: number;
  /** bytes of the shared budget the request being answered holds */
  answeringHeld: number;
  /** a 'drain' listener is set */
  draining: boolean;
  /** what the answer being made holds of the budget all answers share */
  charge: { held: number } | null;
}

export function startServer(opts: ServerOptions): Promise<ExtensionServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const byRoute = new Map(opts.plugins.map((p) => [`${p.registry}/${p.name}`, p]));
  const shared = new ByteBudget(limits.maxShared);
  const answers = new AnswerBudget(Math.max(limits.maxAnswers, limits.maxReply + ANSWER_STEP));
  const conns = new Set<Conn>();
  const say = new Throttled(opts.log, 60_000);
  // A request that needs the shared budget while unfinished requests of other connections hold
  // it closes those, least recently active first, until it fits (wire.ts, ByteBudget): osqueryd
  // writes a request at once, so one that has sat unfinished is a stalled or hostile client's.
  // Thirty-one connections that declared large strings in their first 60 bytes and sent no
  // more held all 128 MB: every ping and result line after them was dropped.
  shared.reclaim = (need, reader) => {
    // requests sent ahead of their answers count too (osqueryd waits for each answer); the
    // request being answered does not: its connection may be osqueryd's, running a query
    const reclaimable = (c: Conn) => c.reader.held + c.waitingHeld;
    const holders = [...conns].filter((c) => c.reader !== reader && reclaimable(c) > 0).sort((a, b) => a.lastActive - b.lastActive);
    let freed = 0;
    let closed = 0;
    for (const c of holders) {
      if (freed >= need) break;
      freed += reclaimable(c);
      closed++;
      conns.delete(c);
      letGo(c);
      c.socket.destroy();
    }
    if (closed)
      say.say(
        'reclaim',
        'warn',
        `extension server: closed ${closed} connection(s) whose unfinished requests, or requests sent ahead of their answers, held ${Math.round(freed / 2 ** 20)} MB of the ${Math.round(limits.maxShared / 2 ** 20)} MB all requests share, to read another`,
      );
  };
  let closing = false;
  let tableCalls = 0;

  /**
   * Answer one call. A logger's call (a plugin that answers at once, with no rows) is encoded
   * and written here and now; only an answer that must wait (an async plugin, rows to
   * encode) returns a promise. A call answered at once costs no promise, no microtask and no
   * closure, and osqueryd's answer is on its way before the next chunk is read.
   */
  const answer = (c: Conn, m: Message): Promise<void> | undefined => {
    const w = new MessageWriter(REPLY_FIRST_PART);
    switch (m.name) {
      case 'ping':
        w.begin('ping', MessageType.REPLY, m.seqid).field(TType.STRUCT, 0);
        writeStatus(w, 0, 'pong');
        w.stop();
        break;
      case 'shutdown':
        w.begin('shutdown', MessageType.REPLY, m.seqid).stop();
        setImmediate(opts.onShutdown);
        break;
      case 'call': {
        if (m.args.get(1) === 'table') tableCalls++;
        const res = callPlugin(m.args);
        if (isPromise(res) || (res.rows !== undefined && !(Array.isArray(res.rows) && res.rows.length === 0))) return answerLater(c, m, w, res);
        // what writeResponse writes for an answer without rows
        w.begin('call', MessageType.REPLY, m.seqid).field(TType.STRUCT, 0);
        writeStatusField(w, res.code, res.message ?? (res.code === 0 ? 'OK' : 'failed'));
        w.field(TType.LIST, 2).byte(TType.MAP).i32(0).stop();
        w.stop();
        send(c, w, res.delivered);
        return undefined;
      }
      default:
        // TApplicationException UNKNOWN_METHOD (1), as thrift's processors answer
        w.begin(m.name, MessageType.EXCEPTION, m.seqid)
          .field(TType.STRING, 1)
          .string(`Unknown function ${m.name.slice(0, 100)}`)
          .field(TType.I32, 2)
          .i32(1)
          .stop();
    }
    send(c, w);
    return undefined;
  };

  const answerLater = async (c: Conn, m: Message, first: MessageWriter, pending: PluginResponse | Promise<PluginResponse>): Promise<void> => {
    const charge = { held: 0 };
    c.charge = charge;
    // only a table's rows are made again: an INSERT, UPDATE or DELETE (or another plugin's
    // call) would be done twice
    const rereadable = isGenerate(m.args);
    try {
      let res = await pending;
      for (let attempt = 1; ; attempt++) {
        const w = attempt === 1 ? first : new MessageWriter(REPLY_FIRST_PART);
        w.begin('call', MessageType.REPLY, m.seqid).field(TType.STRUCT, 0);
        const rows = await writeResponse(w, res, () => c.socket.destroyed, m.args, charge, Infinity, false, rereadable && attempt < ANSWER_ATTEMPTS);
        if (rows !== AGAIN) {
          w.stop();
          // (null: refused or stopped, its rows not sent, so nothing of them is committed)
          send(c, w, rows === null ? undefined : res.delivered);
          return;
        }
        // it gave way to the answers under way: made again from the start once they are sent
        answers.give(charge);
        if (c.socket.destroyed) return;
        res = await callPlugin(m.args);
      }
    } finally {
      c.charge = null;
      giveWhenTaken(c, charge);
    }
  };

  /** an answer's bytes stay in flight until its reader has taken them (or left) */
  const giveWhenTaken = (c: Conn, charge: { held: number }): void => {
    if (charge.held === 0) return;
    if (c.socket.destroyed || !c.socket.writableNeedDrain) return answers.give(charge);
    const give = () => {
      c.socket.off('drain', give);
      c.socket.off('close', give);
      answers.give(charge);
    };
    c.socket.on('drain', give);
    c.socket.on('close', give);
  };

  /**
   * Write a reply. `delivered` (an answer's commit, PluginResponse.delivered) runs from the
   * callback of the write of its last part, once every byte of the reply is with the kernel,
   * and only when that write succeeded: a reply the socket closed under (osqueryd gone while
   * it was written, or before) commits nothing. Node calls a write's callback once, and a
   * reply is written once; a reply without one (a ping, a logger's call) makes no closure.
   */
  const send = (c: Conn, w: MessageWriter, delivered?: () => void): void => {
    if (c.socket.destroyed) return;
    const parts = w.finish();
    // Node calls back a write the socket was destroyed under with no error (a reply waiting
    // for its reader when the reader left: ECONNRESET), so a destroyed socket is a failure too;
    // one destroyed just after its last write succeeded then commits nothing, which costs the
    // rows a repeat in a later answer, never their place among the never-answered
    const written =
      delivered &&
      ((err?: Error | null) => {
        if (!err && !c.socket.destroyed) commit(delivered);
      });
    if (parts.length === 1) return void c.socket.write(parts[0], written);
    // one writev for the parts, not a write each (each part's callback comes after it)
    c.socket.cork();
    for (let k = 0; k < parts.length - 1; k++) c.socket.write(parts[k]);
    c.socket.write(parts[parts.length - 1], written);
    c.socket.uncork();
  };

  /** an answer's commit, from a write's callback: one that throws is logged, not the process's end */
  const commit = (delivered: () => void): void => {
    try {
      delivered();
    } catch (err) {
      say.say('delivered', 'error', `extension server: an answer delivered did not commit: ${(err as Error).message}`);
    }
  };

  /** the plugin's answer; a plugin that throws, at once or later, answers status 1 with its message */
  const callPlugin = (args: Map<number, Value>): PluginResponse | Promise<PluginResponse> => {
    const registry = args.get(1);
    const item = args.get(2);
    if (typeof registry !== 'string' || typeof item !== 'string') return { code: 1, message: 'call needs a registry and an item name' };
    const plugin = byRoute.get(`${registry}/${item}`);
    if (!plugin) return { code: 1, message: `unknown ${echo(registry)} plugin ${echo(item)}` };
    const request: Record<string, string> = {};
    let oversize: Map<string, number> | null = null;
    const raw = args.get(3);
    if (Array.isArray(raw)) {
      for (const entry of raw as unknown[]) {
        // a list in place of the map (a broken client) has entries that are not pairs
        if (!Array.isArray(entry)) continue;
        const [k, v] = entry as [Value, Value];
        if (typeof k !== 'string') continue;
        if (v instanceof Oversize) {
          (oversize ??= new Map()).set(k, v.bytes);
          request[k] = '';
        } else if (typeof v === 'string') request[k] = v;
      }
    }
    const failed = (err: unknown): PluginResponse => {
      say.say(`${registry}/${item}`, 'warn', `${registry} ${item} ${echo(request.action ?? '')}: ${(err as Error).message}`);
      return { code: 1, message: (err as Error).message };
    };
    try {
      const res = plugin.call(request, oversize ?? NO_OVERSIZE);
      return isPromise(res) ? Promise.resolve(res).catch(failed) : res;
    } catch (err) {
      return failed(err);
    }
  };

  /**
   * the ExtensionResponse; rows are checked and encoded as they come, within the byte budget.
   * `gone` says the caller left; a rehearsal passes `maxRows` and gets a count, or null if
   * the answer was refused (then its status, not its rows, was written) or, quietly, stopped
   */
  const writeResponse = async (
    w: MessageWriter,
    res: PluginResponse,
    gone: () => boolean,
    args: Map<number, Value>,
    charge: { held: number },
    maxRows = Infinity,
    rehearsal = false,
    again = false,
  ): Promise<number | null | typeof AGAIN> => {
    const rowsPerTurn = rehearsal ? REHEARSAL_ROWS_PER_TURN : ROWS_PER_TURN;
    // an answer's rows are written into parts of 64 kB and more (MessageWriter doubles them),
    // made at the first row: a logger's answer has none, and a 64 kB buffer per call (outside
    // V8's pool) was 300 MB/s of external memory at 5,000 calls/s, a scavenge every ~90 ms
    let body: MessageWriter | null = null;
    let count = 0;
    let problem: string | null = null;
    let cut = false;
    let stopped = false;
    /** the bytes all answers share were spent, and this one was refused them */
    let crowded = false;
    if (res.rows) {
      // a generator's rows are taken as they come, without a promise per row as `for await`
      // over a sync iterable makes; an async one is awaited row by row
      const rows = res.rows as Partial<Iterable<Row> & AsyncIterable<Row>>;
      const sync = typeof rows[Symbol.iterator] === 'function';
      const it: Iterator<Row> | AsyncIterator<Row> = sync ? rows[Symbol.iterator]!() : rows[Symbol.asyncIterator]!();
      let finished = false;
      let turn = 0;
      try {
        for (;;) {
          const step = sync ? (it as Iterator<Row>).next() : await it.next();
          if (step.done) {
            finished = true;
            break;
          }
          body ??= new MessageWriter(64 * 1024);
          problem = writeRow(body, step.value);
          if (problem) break;
          count++;
          if (body.size > limits.maxReply) {
            cut = true;
            break;
          }
          if (body.size > charge.held) {
            let granted = answers.take(charge, ANSWER_STEP);
            if (granted !== true && granted !== false) {
              granted = await granted;
              if (gone() || closing) {
                stopped = true;
                break;
              }
            }
            if (!granted) {
              crowded = true;
              break;
            }
          }
          if (count >= maxRows) break;
          if (++turn === rowsPerTurn) {
            turn = 0;
            await new Promise((r) => setImmediate(r));
            if (gone() || closing) {
              stopped = true;
              break;
            }
          }
        }
      } catch (err) {
        finished = true; // an iterator that threw is done
        problem = (err as Error).message;
      }
      // what `for … of` does on leaving early: let the generator run its finally blocks
      if (!finished) {
        try {
          await it.return?.();
        } catch (err) {
          problem ??= (err as Error).message;
        }
      }
    }
    // a rehearsal that gave way, or an answer whose caller left (its socket is closed: no one
    // to tell), is no problem to report; only a shutdown is, to a caller still there
    if (stopped && (rehearsal || !closing)) return null;
    if (crowded && again) return AGAIN;
    // osquery's table call has no paging, and a partial answer would look whole to SQLite
    // (a count, a filter on a column not pushed down): refuse it and say how to narrow it
    if (cut)
      problem = `the answer passed ${Math.round(limits.maxReply / 2 ** 20)} MB at row ${count} and was not sent (a table call cannot be paged); narrow it with a constraint the table filters on: time (anomaly_scores) or start (anomaly_windows), e.g. WHERE time > CAST(strftime('%s','now') AS INTEGER) - 3600, or score, subject, host, verdict`;
    // the same for an answer stopped by a shutdown: the rows so far would look whole
    else if (stopped) problem = `the extension is shutting down; stopped at row ${count}, nothing sent`;
    else if (crowded)
      problem = `the answers in flight on other connections held the ${Math.round(answers.max / 2 ** 20)} MB all answers share, and this one (at row ${count}) had to give way; nothing sent: try again, or narrow it with a constraint the table filters on (time or start, score, subject, host, verdict)`;
    if (problem) {
      const what = `${args.get(1)} ${args.get(2)}`;
      const kind = cut ? 'too large' : stopped ? 'stopped' : crowded ? 'crowded' : 'bad rows';
      say.say(`${kind} ${what}`, kind === 'bad rows' ? 'error' : 'warn', `${what}: not answered: ${problem}`);
      writeStatusField(w, 1, `${what}: ${problem}`);
      w.field(TType.LIST, 2).byte(TType.MAP).i32(0).stop();
      return null;
    }
    writeStatusField(w, res.code, res.message ?? (res.code === 0 ? 'OK' : 'failed'));
    w.field(TType.LIST, 2).byte(TType.MAP).i32(count);
    if (body) w.append(body);
    w.stop();
    return count;
  };

  const rehearse = async (registry: string, item: string, request: Record<string, string>, maxRows: number): Promise<number | null> => {
    if (closing) return null;
    // the request as the reader hands a call's arguments over: registry, item, map entries
    const args = new Map<number, Value>([
      [1, registry],
      [2, item],
      [3, Object.entries(request) as Value],
    ]);
    const seen = tableCalls;
    const res = await callPlugin(args);
    const w = new MessageWriter();
    w.begin('call', MessageType.REPLY, 0).field(TType.STRUCT, 0);
    const charge = { held: 0 };
    let rows: number | null | typeof AGAIN;
    try {
      rows = await writeResponse(w, res, () => tableCalls !== seen, args, charge, maxRows, true);
    } finally {
      answers.give(charge);
    }
    w.stop();
    // the parts are joined as for a socket, then dropped
    w.finish();
    return res.code === 0 && rows !== AGAIN ? rows : null;
  };

  const onConnection = (socket: net.Socket): void => {
    if (closing) return void socket.destroy();
    if (conns.size >= limits.maxConnections && !evictIdle()) {
      say.say('full', 'warn', `extension server: ${conns.size} connections busy; refused one`);
      return void socket.destroy();
    }
    const c: Conn = {
      socket,
      lastActive: Date.now(),
      busy: 0,
      waiting: [],
      waitingHeld: 0,
      answeringHeld: 0,
      draining: false,
      charge: null,
      reader: new MessageReader({ maxString: limits.maxString, maxMessage: limits.maxMessage, shared }, (m) => {
        if (m.type !== MessageType.CALL && m.type !== MessageType.ONEWAY) throw new ProtocolError(`message type ${m.type} is not a call`);
        if (socket.destroyed) return;
        // The reader gave back what the request's strings charged to the shared budget as it
        // handed the request over; it is taken again (it fits: nothing came between) and held
        // until the request is answered. Given back at once, requests sent ahead of their
        // answers were held outside any bound: 48 connections that each had a SELECT's answer
        // unread and then sent a 15 MB line grew resident memory by 859 MB (128 MB shared)
        if (!shared.take(m.charged)) throw new ProtocolError('a request that no longer fits the budget it was read in');
        c.waitingHeld += m.charged;
        // One request of a connection at a time, as thrift's servers and osqueryd (one request
        // per connection) have it, and the next only once the answer before it has been taken
        // by the reader: a client that wrote 20 broad SELECTs at once had them all answered
        // side by side, every answer built and queued in memory (338 MB for 20 of 13 MB)
        c.waiting.push(m);
        if (c.busy === 0) next(c);
        else socket.pause();
      }),
    };
    conns.add(c);
    socket.on('data', (chunk: Buffer) => {
      c.lastActive = Date.now();
      try {
        c.reader.push(chunk);
      } catch (err) {
        say.say('protocol', 'warn', `extension server: dropped a connection: ${(err as Error).message}`);
        socket.destroy();
      }
    });
    socket.on('error', (err) => say.say(`socket ${(err as NodeJS.ErrnoException).code}`, 'debug', `extension server connection: ${err.message}`));
    socket.on('close', () => {
      conns.delete(c);
      letGo(c);
      // an answer waiting for the budget stops waiting: what it holds is given back now
      if (c.charge) answers.cancel(c.charge);
    });
  };

  /**
   * An answer that threw before it was sent: the caller still gets one, a
   * TApplicationException INTERNAL_ERROR (6) as thrift's processors send, instead of
   * waiting for a reply that never comes (osqueryd until its timeout, a logger call blocking
   * its buffer). Nothing of the failed answer was written: `send` is its last step.
   */
  const failedAnswer = (c: Conn, m: Message, err: unknown): void => {
    const why = (err as Error)?.message ?? String(err);
    say.say('answer', 'error', `extension server: ${why}`);
    const w = new MessageWriter(REPLY_FIRST_PART);
    w.begin(m.name, MessageType.EXCEPTION, m.seqid)
      .field(TType.STRING, 1)
      .string(`${m.name.slice(0, 100)}: ${why.slice(0, 1000)}`)
      .field(TType.I32, 2)
      .i32(6)
      .stop();
    send(c, w);
  };
  /** give back all a connection holds of the shared budget, and forget its waiting requests (it is closed) */
  const letGo = (c: Conn): void => {
    c.reader.release();
    shared.give(c.waitingHeld + c.answeringHeld);
    c.waitingHeld = 0;
    c.answeringHeld = 0;
    c.waiting = [];
  };
  const answered = (c: Conn): void => {
    shared.give(c.answeringHeld);
    c.answeringHeld = 0;
    c.busy--;
    c.lastActive = Date.now();
    next(c);
  };

  /** answer the connection's next waiting request, unless one is under way or its reader lags */
  const next = (c: Conn): void => {
    if (c.busy > 0 || c.socket.destroyed) return;
    if (!c.waiting.length) {
      if (c.socket.isPaused()) c.socket.resume();
      return;
    }
    if (c.socket.writableNeedDrain) {
      // its reader has not taken the last answer yet: read no more of its requests meanwhile
      c.socket.pause();
      if (!c.draining) {
        c.draining = true;
        c.socket.once('drain', () => {
          c.draining = false;
          next(c);
        });
      }
      return;
    }
    const m = c.waiting.shift()!;
    c.waitingHeld -= m.charged;
    c.answeringHeld = m.charged;
    c.busy++;
    let later: Promise<void> | undefined;
    try {
      later = answer(c, m);
    } catch (err) {
      failedAnswer(c, m, err);
    }
    if (!later) return answered(c);
    later.catch((err) => failedAnswer(c, m, err)).finally(() => answered(c));
  };

  /**
   * Idle connections are closed by one sweep over them all rather than a timer per socket:
   * Node re-arms a socket's timeout on every read and write, a cost paid on every call of
   * osqueryd's connection-per-call habit. A connection is idle when it has had no bytes and
   * no answer for `idleMs`; it is closed within a quarter of that more. The verdict waits for
   * the poll phase (setImmediate), as the client's timeout does: a process starved or busy
   * past `idleMs` wakes with this timer and the peer's bytes both due, and timers run first.
   */
  const sweepIdle = (): void =>
    void setImmediate(() => {
      const now = Date.now();
      for (const c of conns) if (c.busy === 0 && now - c.lastActive >= limits.idleMs) c.socket.destroy();
    });
  let sweep: NodeJS.Timeout | null = null;

  /** make room for a new connection by closing the one idle longest; false if all are busy */
  const evictIdle = (): boolean => {
    let oldest: Conn | null = null;
    for (const c of conns) if (c.busy === 0 && (!oldest || c.lastActive < oldest.lastActive)) oldest = c;
    if (!oldest) return false;
    conns.delete(oldest);
    oldest.socket.destroy();
    return true;
  };

  // a file left by a crashed instance would make listen() fail with EADDRINUSE
  try {
    fs.unlinkSync(opts.path);
  } catch {
    /* nothing stale */
  }
  // The socket is bound in a private 0700 directory, made 0600 (only its owner, root, may call
  // shutdown()), and renamed into place once it listens: the path appears with its final mode
  // and already accepting, so a manager that sees it never meets a refused connect between
  // bind() and listen(), and no process-wide umask is touched while the scorer thread writes.
  const staging = `${opts.path}.d`;
  const bound = path.join(staging, 's');
  // the manager's path is checked at start (extension/args.ts); a path cut by libuv would bind elsewhere
  const tooLong = sunPathProblem(bound);
  if (tooLong) return Promise.reject(new Error(`cannot serve the extension socket: ${tooLong}`));
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { mode: 0o700 });
  fs.chmodSync(staging, 0o700);
  const server = net.createServer(onConnection);
  server.on('error', (err) => say.say(`server ${(err as NodeJS.ErrnoException).code}`, 'error', `extension server: ${err.message}`));
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      fs.rmSync(staging, { recursive: true, force: true });
      reject(err);
    });
    // a deep backlog: osqueryd connects anew for every ping and call and takes a refused
    // connect (EAGAIN once the backlog is full) for a dead extension. Node's default of 511
    // fills when a burst of connections meets a starved event loop; the kernel caps the
    // number at net.core.somaxconn (4096 since Linux 5.4)
    server.listen({ path: bound, backlog: LISTEN_BACKLOG }, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => say.say(`server ${(err as NodeJS.ErrnoException).code}`, 'error', `extension server: ${err.message}`));
      try {
        fs.chmodSync(bound, 0o600);
        fs.renameSync(bound, opts.path);
      } catch (err) {
        server.close();
        fs.rmSync(staging, { recursive: true, force: true });
        return reject(err);
      }
      fs.rmSync(staging, { recursive: true, force: true });
      sweep = setInterval(sweepIdle, Math.max(10, Math.min(1000, limits.idleMs / 4)));
      sweep.unref();
      resolve({
        path: opts.path,
        get connections() {
          return conns.size;
        },
        get tableCalls() {
          return tableCalls;
        },
        close: (graceMs = 2000) => {
          closing = true;
          if (sweep) clearInterval(sweep);
          try {
            fs.unlinkSync(opts.path);
          } catch {
            /* the manager may have removed it */
          }
          for (const c of conns) if (c.busy === 0) c.socket.destroy();
          return new Promise<void>((done) => {
            const t = setTimeout(() => {
              for (const c of conns) c.socket.destroy();
              done();
            }, graceMs);
            t.unref();
            server.close(() => {
              clearTimeout(t);
              done();
            });
          });
        },
        rehearse,
      });
    });
  });
}

function writeStatus(w: MessageWriter, code: number, message: string): void {
  w.field(TType.I32, 1).i32(code).field(TType.STRING, 2).string(message).field(TType.I64, 3).i64(0).stop();
}

function writeStatusField(w: MessageWriter, code: number, message: string): void {
  w.field(TType.STRUCT, 1);
  writeStatus(w, code, message);
}

/** one row as map<string,string>; null when it was written, else what is wrong with it */
function writeRow(w: MessageWriter, row: unknown): string | null {
  if (!row || typeof row !== 'object' || Array.isArray(row))
    return `a row is ${Array.isArray(row) ? 'an array' : row === null ? 'null' : typeof row}, not an object of columns`;
  // written as the columns come, the count filled in after: a row with a bad value is
  // reported and the whole answer dropped, so what was written of it is never sent
  w.byte(TType.STRING).byte(TType.STRING).count();
  let n = 0;
  for (const k in row) {
    const v = (row as Record<string, unknown>)[k];
    // an absent value is SQL NULL
    if (v === undefined || v === null) continue;
    if (typeof v === 'string') w.string(k).string(v);
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') w.string(k).string(String(v));
    else {
      w.setCount(n);
      return `column ${echo(k)} holds ${Array.isArray(v) ? 'an array' : typeof v}, not a value`;
    }
    n++;
  }
  w.setCount(n);
  return null;
}

/** a table's generate call: it only reads, so it may be made again */
function isGenerate(args: Map<number, Value>): boolean {
  if (args.get(1) !== 'table') return false;
  const raw = args.get(3);
  if (!Array.isArray(raw)) return false;
  for (const entry of raw as unknown[]) if (Array.isArray(entry) && entry[0] === 'action') return entry[1] === 'generate';
  return false;
}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as Partial<Promise<T>> | null)?.then === 'function';
}
