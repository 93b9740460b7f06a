import { quoted } from './quoted';
import { GOOD_FROM } from './calibration';
import { ownCopy } from './features/compact-value';
import { addressClass, canonicalAddress } from './features/generalise';
import { fisher, lowered, ofItsOwn, pOf, PID, type ChainRow, type ChainVerdict } from './chain-suspicion';

// One tool against many peers. A row's score weighs what that row shows against its subject's
// history, alone, and a connection names its peer by class (`private:10.40`), so a bastion
// account that runs `ssh -o BatchMode=yes HOST hostname` over fourteen internal hosts in two
// minutes makes fourteen process rows and fourteen connections each at the edge of usual (a
// known program on a new object, 0.54-0.58; its connection to an internal peer, 0.60-0.75): no
// row carries the count. Windows see it; rows did not (the second held-out set's
// lateral-movement, 31 of its 141 attack rows, none below 0.3).
//
// So the processes one parent starts with the same program, each unusual on its own row (below
// GOOD_FROM, decided by rarity on the row's own values, not a package run's step), that reach
// FAN_AT or more different peers between them within FAN_SECONDS, are a fan-out: each further
// connection of the group, and each further process of it, is judged on the group's evidence,
// the members' p-values combined by Fisher's method (at most MAX_COMBINED of the strongest). It
// counts processes, not connections: one program that talks to many addresses (a backup tool
// to its store's endpoints, a browser) is one member, many processes to one peer are no
// fan-out, and a group whose processes are usual carries nothing (the bastion's routine hops).
//
// Fisher's method takes the members' evidence as independent, and it is not: the members
// repeat one novelty (the same new command template). That repetition against different peers
// within minutes is what is counted as evidence; a benign fan-out of unusual processes (an
// admin's first loop of a new command over hosts) is an alert too. A loop over local objects
// (snapshots, accounts) has no peers and is no fan-out: measured, it is the same shape as a
// benign admin's batch of routine commands (docs/evaluation.md). It only ever lowers a score and
// learns nothing; its records are bounded and not saved.

/** distinct peers, each reached by a member process of its own, at which the repetition is evidence */
export const FAN_AT = 3;
/** how far apart the members of one fan may be, seconds */
export const FAN_SECONDS = 600;
/** p-values combined at most: the strongest members carry the group */
const MAX_COMBINED = 8;
/** processes, groups and peers remembered at most (the oldest go first) */
const MAX_PROCESSES = 20_000;
const MAX_GROUPS = 5_000;
const MAX_PEERS = 64;
const MAX_EVENT = 200;

interface Member {
  /** the process's own row's p (unusual) */
  p: number;
  group: string;
  time: number;
}

interface Group {
  /** peer address → the member process that reached it first, its p and when */
  peers: Map<string, { pid: string; p: number; time: number }>;
  /** the first member's event, for the reasons */
  event: string;
}

/**
 * a row's peer, when it has one (not loopback or unspecified), in its one text: socket_events
 * writes an IPv6 address's every group and an IPv4 peer of an IPv6 socket as `::ffff:…`, so one
 * peer compared as the row wrote it was two (two peers of a fan, or an alert's peer missed)
 */
export function peerOf(columns: Record<string, string>): string | undefined {
  const a = (columns.remote_address ?? '').trim();
  if (!a || a.length > 64) return undefined;
  const c = addressClass(a);
  return c === 'loopback' || c === 'any' || c === 'none' || c === 'name' ? undefined : canonicalAddress(a);
}

export class ConnectionFan {
  private readonly members = new Map<string, Member>();
  private readonly groups = new Map<string, Group>();

  /**
   * Record the row and return its verdict when a fan changes it, undefined otherwise. Call in
   * row order, once per scored row, with the score the row has so far.
   */
  judge(row: ChainRow): ChainVerdict | undefined {
    const pid = row.columns.pid;
    if (row.score === null || pid === undefined || !PID.test(pid)) return undefined;
    const unusual = row.score < GOOD_FROM && ofItsOwn(row.model) && !row.packagesDoing;
    if (row.kind === 'process') {
      const key = `${row.host}\u0000${pid}`;
      this.members.delete(key);
      const parent = row.columns.parent;
      const program = row.columns.path ?? '';
      if (!unusual || parent === undefined || !PID.test(parent) || !program) return undefined;
      // a string of its own: a slice is a view that keeps the row's whole value alive (compact-value.ts)
      const group = ownCopy(`${row.host}\u0000${parent}\u0000${program.slice(0, 256)}`);
      const own = pOf(row.score);
      this.remember(this.members, key, { p: own, group, time: row.time }, MAX_PROCESSES);
      const g = this.current(group, row.time);
      if (!g || members(g) < FAN_AT - 1) return undefined;
      return this.verdict(row.score, [own, ...strongest(g)], g, 'the next process of');
    }
    const peer = peerOf(row.columns);
    if (!peer || row.columns.action !== 'connect') return undefined;
    const m = this.members.get(`${row.host}\u0000${pid}`);
    if (!m || row.time - m.time > FAN_SECONDS) return undefined;
    let g = this.current(m.group, row.time);
    if (!g) {
      g = { peers: new Map(), event: ownCopy(row.event.slice(0, MAX_EVENT)) };
      this.remember(this.groups, m.group, g, MAX_GROUPS);
    }
    if (!g.peers.has(peer) && g.peers.size < MAX_PEERS) g.peers.set(peer, { pid, p: m.p, time: row.time });
    if (members(g) < FAN_AT) return undefined;
    return this.verdict(row.score, strongest(g), g, 'a connection of');
  }

  private verdict(score: number, ps: number[], g: Group, how: string): ChainVerdict | undefined {
    return lowered(
      score,
      fisher(ps.slice(0, MAX_COMBINED)),
      `repeated against many peers: ${how} one program started by one parent against ${g.peers.size} peers within ${FAN_SECONDS / 60} minutes, each unusual (${quoted(g.event)})`,
    );
  }

  /** the group's record when its latest member is recent, its members older than the window dropped */
  private current(group: string, time: number): Group | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    for (const [peer, m] of g.peers) if (time - m.time > FAN_SECONDS) g.peers.delete(peer);
    return g;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
    map.delete(key);
    if (map.size >= max) map.delete(map.keys().next().value as string);
    map.set(key, value);
  }
}

/** how many member processes reached a peer of their own */
function members(g: Group): number {
  return new Set([...g.peers.values()].map((m) => m.pid)).size;
}

/** the members' p-values, one per process, strongest first */
function strongest(g: Group): number[] {
  const byPid = new Map<string, number>();
  for (const m of g.peers.values()) byPid.set(m.pid, Math.min(byPid.get(m.pid) ?? 1, m.p));
  return [...byPid.values()].sort((a, b) => a - b).slice(0, MAX_COMBINED);
}
