import { canonicalAddress, ipVersion } from './generalise';
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
/** a part of an address as inet_aton reads it, and curl's URL parser: decimal, octal (`011`) or hex (`0xcb`) */
const PART = String.raw`(?:0x[\da-f]{1,8}|\d{1,12})`;
/**
 * a dotted quad standing alone: not part of a longer dotted run or a name (`v1.2.3.4`,
 * `lib-1.2.3.4.so`), nor after a version's comparison (`foo==1.2.3.4`, `>=`) or a version's
 * name (`-Dversion=34.1.2.3`), which is a version. Its parts may be written in octal or hex
 * (`203.0.113.011`, `0xcb.0.113.9`): ping, ssh and curl reach 203.0.113.9 by either
 */
const DOTTED = new RegExp(String.raw`(?<![\w.-])(?<![=<>~!]=|version=)${PART}(?:\.${PART}){3}(?![\w-]|\.\w)`, 'gi');
/**
 * a URL's host (after `//`, and its `user:password@`): there an address may also be one
 * number or fewer parts (`http://3405803785/`, `http://203.0.29961/`), as curl and inet_aton
 * read it; elsewhere a lone number is a count or a time (`date -d @1767225600`) and three
 * parts a version (`npm i lodash@4.17.21`), so those are read only here. Or a bracketed IPv6 address
 */
const URL_HOST = new RegExp(String.raw`(?<!/)//(?:[^\s/@?#]*@)?(\[[\da-f:.]+\]|${PART}(?:\.${PART}){0,3}\.?)(?=[:/?#'"\s]|$)`, 'gi');
/** an IPv6 address standing alone: `2a00:1450:4001:81b::200e`, `::ffff:cb00:7109` (IPv4 behind it) */
const IPV6 = /(?<![\w:.])[\da-f]{0,4}(?::[\da-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:])/gi;
/** an uncompressed address's first seven groups (six and an IPv4 one's first part): a line without `::` is tried for IPV6 only if it has these */
const FULL_IPV6 = /[\da-f]{1,4}(?::[\da-f]{1,4}){6}/i;

/**
 * the internet's addresses only. An address of this host (`--api-ip 127.0.0.1`, `--bind
 * 0.0.0.0`) is where a program listens, its own configuration: a daemon's first start naming
 * one was a new kind of behaviour (the fifth set's seed 14: a proxy's restart, 0.58 to 0.29).
 * An internal address is how admins name the site's own hosts (`psql -h 10.40.2.7`, `ssh
 * 10.40.1.5`): a DBA's first connection to the application's database by its address was
 * an alert (the independent set's first-internal-db, 0.66 to 0.20)
 */
const REMOTE = new Set(['public']);

/**
 * The network classes (security.ts networkClass) of the internet's addresses in a command
 * line (REMOTE). Every address of the head is read: a bound on their count let a line hide
 * its public address behind that many private ones; the head's bound is the cost's.
 */
export function argumentNetworks(cmdline: string): string[] {
  const text = cmdline.slice(0, MAX_CHARS);
  const found = new Set<string>();
  for (const address of addresses(text)) {
    const net = address ? networkClass(address) : '';
    if (REMOTE.has(net)) found.add(net);
    // REMOTE is one class: the first is all there is to find
    if (found.size === REMOTE.size) break;
  }
  return [...found].sort();
}

/** the addresses a command line names, each in its one text ('' for what reads as none) */
function* addresses(text: string): Generator<string> {
  // each pattern is tried only on a line with what it needs: most lines name no address
  if (text.includes('.')) for (const m of text.matchAll(DOTTED)) yield inetAton(m[0]);
  if (text.includes('//')) for (const m of text.matchAll(URL_HOST)) yield m[1].startsWith('[') ? ipv6(m[1].slice(1, -1)) : inetAton(m[1]);
  if (text.includes('::') || (text.includes(':') && FULL_IPV6.test(text))) for (const m of text.matchAll(IPV6)) yield ipv6(m[0]);
}

/**
 * An IPv6 address as the class reads it: an IPv4 one behind it (`::ffff:203.0.113.9`) as
 * that, else a global unicast address (2000::/3) only; `dead::beef` or `Foo::` in a command
 * line is code, not a host on the internet.
 */
function ipv6(text: string): string {
  if (ipVersion(text) !== 6) return '';
  const a = canonicalAddress(text);
  return ipVersion(a) === 4 || /^[23][\da-f]{3}:/.test(a) ? a : '';
}

/**
 * `text` as inet_aton reads it (1 to 4 parts, each decimal, octal or hex; the last fills the
 * bytes left), in dotted decimal; '' if it is none. A trailing dot is a URL's fully qualified host.
 */
function inetAton(text: string): string {
  // most are written so: the cost of a line of hundreds of addresses is this test's
  if (DECIMAL_QUAD.test(text)) return text;
  const parts = text.replace(/\.$/, '').split('.');
  let value = 0;
  for (let i = 0; i < parts.length; i++) {
    const n = partValue(parts[i]);
    const last = i === parts.length - 1;
    const max = last ? 2 ** (8 * (5 - parts.length)) - 1 : 255;
    if (!(n <= max)) return '';
    value = last ? value * 2 ** (8 * (5 - parts.length)) + n : value * 256 + n;
  }
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join('.');
}

const DECIMAL_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function partValue(part: string): number {
  if (/^0x[\da-f]+$/i.test(part)) return parseInt(part.slice(2), 16);
  if (/^0[0-7]*$/.test(part)) return parseInt(part, 8);
  return /^[1-9]\d*$/.test(part) ? Number(part) : NaN;
}
