import { ipVersion } from './generalise';
import { networkClass } from './security';

// The network of the addresses a command line names: `argnet=public` for `iptables … -j DNAT
// --to-destination 198.51.100.53:53`, `curl https://203.0.113.119/api`, `ssh -R … tun@203.0.113.140`.
// A connection's peer is a class of its own (`net`), but the same address written into a
// command (a firewall rule, a resolver pushed to clients, a raw address to post to) was masked
// by the miner as `<*>` and weighed as one more new template of a known program. People name
// the internet's hosts by name, and a routine that names its addresses (fail2ban's bans) names
// them every day: the first internet address in a subject's commands is a new kind of
// behaviour, as `argloc` is for the places its paths point.

/** what of a command line is read: its head only, so a line of megabytes costs as one of 4 KiB */
const MAX_CHARS = 4096;
/** addresses read at most: a line listing hundreds of them costs as one of a few */
const MAX_ADDRESSES = 16;
/**
 * a dotted quad standing alone: not part of a longer dotted run or a name (`v1.2.3.4`,
 * `lib-1.2.3.4.so`), nor after a version's comparison (`foo==1.2.3.4`, `>=`), which is a
 * version; the address checked by ipVersion
 */
const IPV4 = /(?<![\w.-])(?<![=<>~!]=)\d{1,3}(?:\.\d{1,3}){3}(?![\w-]|\.\w)/g;

/**
 * the internet's addresses only. An address of this host (`--api-ip 127.0.0.1`, `--bind
 * 0.0.0.0`) is where a program listens, its own configuration: a daemon's first start naming
 * one was a new kind of behaviour (the fifth set's seed 14: a proxy's restart, 0.58 to 0.29).
 * An internal address is how admins name the site's own hosts (`psql -h 10.40.2.7`, `ssh
 * 10.40.1.5`): a DBA's first connection to the application's database by its address was
 * an alert (the independent set's first-internal-db, 0.66 to 0.20)
 */
const REMOTE = new Set(['public']);

/** the network classes (security.ts networkClass) of the internet's IPv4 addresses in a command line (REMOTE), once */
export function argumentNetworks(cmdline: string): string[] {
  const found = new Set<string>();
  let n = 0;
  for (const m of cmdline.slice(0, MAX_CHARS).matchAll(IPV4)) {
    if (++n > MAX_ADDRESSES) break;
    const net = ipVersion(m[0]) === 4 ? networkClass(m[0]) : '';
    if (REMOTE.has(net)) found.add(net);
  }
  return [...found].sort();
}
