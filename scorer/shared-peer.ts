import { quoted } from './quoted';
import { BAD_BELOW, GOOD_FROM } from './calibration';
import { ownCopy } from './features/compact-value';
import { addressClass } from './features/generalise';
import { fisher, lowered, ofItsOwn, pOf, type ChainRow, type ChainVerdict } from './chain-suspicion';
import { peerOf } from './connection-fan';
import { fnv1a64 } from './hash';

// A second program at an alert's peer. A connection names its peer by class (`public:203.0`),
// and a row is weighed against its subject's history alone, so a stage that calls out and is
// caught (its connection an alert, by a chain or on its own) and the `curl` it then runs to
// post what it packed to the same address are two rows about one outside peer: the curl is
// the person's routine tool, and its connection only a new address for a person who often
// brings one (0.59-0.62, the fifth held-out set's conda-postlink on every seed).
//
// So an unusual connection (below GOOD_FROM, decided by rarity on the row's own values, not a
// package run's step) to the exact public address that an alert's connection of *another
// program* on the same host reached within PEER_SECONDS takes that alert's p, combined with its
// own by Fisher's method. Only another program: the same program's next connection to its own
// peer is the one novelty shown again (apt's method to a new mirror, a new environment's
// python to its index), not a second piece of evidence. Only a public address: internal
// services are shared by design (a monitoring host's grafana and a person's psql to one
// database). Measured on every set (docs/evaluation.md, branch `recall7`): the conda stage's
// `curl` connection on the fifth set's three seeds, no other row of any set.
//
// What it concedes: a shared front (a CDN address behind many sites) is one peer to it, so a
// benign program reaching the same CDN address as an alerting one is combined too when it is
// unusual itself (the sets' one such row, a second python environment at PyPI's front, is at
// 0.77, above the gate). So one alert lowers at most one row of each of MAX_PROGRAMS other
// programs: a local user's alert at a busy front buys a few alerts on others' programs, not a
// day of them. It only lowers scores, learns nothing, and its records are bounded and not
// saved (after a restart an alert's peer is forgotten, as the chain's and the fan's records are).

/** how long an alert's peer stays suspect, seconds */
export const PEER_SECONDS = 86_400;
/** peers remembered at most (the oldest go first) */
const MAX_PEERS = 20_000;
const MAX_EVENT = 200;
/**
 * other programs whose row one alert's peer may lower: a local user who makes one alert at an
 * address the host's programs reach every day (a CDN's front, a cloud's storage) otherwise
 * turned every other account's unusual connection there, for a day, into an alert
 */
export const MAX_PROGRAMS = 4;

interface AlertPeer {
  p: number;
  program: string;
  /** the latest alert's time at the peer: a late row of an earlier time does not age it */
  time: number;
  event: string;
  /** the programs whose row this peer has lowered, each once, by their paths' hash (a path may be 256 characters) */
  lowered: string[];
}

/** the row's peer (in its one text, peerOf) when it is a public address */
function publicPeer(columns: Record<string, string>): string | undefined {
  const a = peerOf(columns);
  return a !== undefined && addressClass(a).startsWith('public:') ? a : undefined;
}

export class SharedPeer {
  private readonly peers = new Map<string, AlertPeer>();

  /**
   * Record the row and return its verdict when an alert's peer changes it, undefined
   * otherwise. Call in row order, once per scored row, with the score the row has after the
   * chain and the fan.
   */
  judge(row: ChainRow): ChainVerdict | undefined {
    if (row.score === null || row.kind !== 'socket') return undefined;
    const peer = publicPeer(row.columns);
    if (!peer) return undefined;
    const key = `${row.host}\u0000${peer}`;
    const program = row.columns.path ?? '';
    const alert = this.peers.get(key);
    if (row.score < BAD_BELOW) {
      this.peers.delete(key);
      if (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value as string);
      // an alert again at the peer within the day keeps what the peer has lowered: making alerts
      // there does not buy more of other programs' rows
      const current = alert && row.time - alert.time <= PEER_SECONDS;
      // strings of their own: a slice is a view that keeps the row's whole value alive (compact-value.ts)
      this.peers.set(key, {
        p: pOf(row.score),
        program: ownCopy(program.slice(0, 256)),
        time: current ? Math.max(alert.time, row.time) : row.time,
        event: ownCopy(row.event.slice(0, MAX_EVENT)),
        lowered: current ? alert.lowered : [],
      });
      return undefined;
    }
    const unusual = row.score < GOOD_FROM && ofItsOwn(row.model) && !row.packagesDoing;
    const own = program.slice(0, 256);
    if (!alert || !unusual || alert.program === own || row.time - alert.time > PEER_SECONDS || row.time < alert.time) return undefined;
    const taker = fnv1a64(own);
    if (alert.lowered.includes(taker) || alert.lowered.length >= MAX_PROGRAMS) return undefined;
    alert.lowered.push(taker);
    return lowered(
      row.score,
      fisher([pOf(row.score), alert.p]),
      `another program at an alert's peer: the address an alert reached (${quoted(alert.event)}, p ${alert.p.toPrecision(2)})`,
    );
  }
}
