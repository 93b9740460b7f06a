import { isIPv4, isIPv6 } from 'net';

// Generalisation: the same behaviour must produce the same value however volatile its
// details (pids, temp names, home directories, ephemeral ports), or every row is new.

/** columns that change on every row without changing the behaviour */
export const VOLATILE = new Set([
  'pid',
  'parent',
  'ppid',
  'fd',
  'inode',
  'socket',
  'eid',
  'time',
  'atime',
  'mtime',
  'ctime',
  'btime',
  'start_time',
  'uptime',
  'size',
  'blocks',
  'block_size',
  'hard_links',
  'user_time',
  'system_time',
  'resident_size',
  'total_size',
  'wired_size',
  'disk_bytes_read',
  'disk_bytes_written',
  'threads',
  'nice',
  'pgroup',
  'net_namespace',
  'counter',
  'epoch',
  'transaction_id',
  'env',
  'env_count',
  'env_size',
  'cmdline_size',
  'overflows',
  'md5',
  'sha1',
  'sha256',
  'hashed',
  'history_file',
  'owner_uid',
  'owner_gid',
  'fsuid',
  'suid',
  'fsgid',
  'sgid',
  'gid',
  'egid',
  'mode',
  'uid_signed',
  'gid_signed',
  'state',
  'seconds',
]);

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const HEX_ID = /(?<![a-z])[0-9a-f]{8,}(?![a-z])/gi;
const DIGITS = /\d+/g;
const HOME = /^\/home\/[^/]+/;
const TMP_ENTRY = /^(\/tmp|\/var\/tmp|\/dev\/shm|\/run\/user\/<n>)\/[^/]+/;
const PROC_PID = /^\/proc\/\d+/;
/** mktemp-style names: tmp.X3f9aQ, ssh-XXXXabcd, systemd-private-… */
const TMP_NAME = /(?<=\/)(?:tmp\.[A-Za-z0-9]{4,}|[a-z]+-(?=[A-Za-z]*\d)[A-Za-z0-9]{8,})(?=\/|$)/g;

const cache = new Map<string, string>();
const CACHE_MAX = 50_000;
/**
 * characters the cache's keys and results may hold: a local user's paths of their own long
 * names (up to 1,024 characters, each new) filled its 50,000 entries with ~78 MB, the largest
 * holder of the heap after 20,000 such rows (memcap). The routine's paths are short and few
 */
const CACHE_CHARS = 4_000_000;
let cacheChars = 0;

/** characters the cache holds, keys and results (its own accounting, memcap) */
export function cachedChars(): number {
  return cacheChars;
}

function cached(key: string, make: () => string): string {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size >= CACHE_MAX || cacheChars > CACHE_CHARS) {
      cache.clear();
      cacheChars = 0;
    }
    cache.set(key, v);
    cacheChars += key.length + v.length;
  }
  return v;
}

/**
 * `/home/alice/.cache/tmp.X3f9/1234.log` → `~/.cache/tmp.X3f9/<n>.log`; temp entries fold
 * to `/tmp/<tmp>` (a fresh name each run is still "something in /tmp").
 */
export function generalisePath(p: string): string {
  if (!p) return '';
  return cached(`p${p}`, () => {
    let g = p
      .replace(HOME, '~')
      .replace(/^\/root(?=\/|$)/, '~')
      .replace(PROC_PID, '/proc/<n>')
      .replace(TMP_NAME, '<tmp>');
    g = g.replace(UUID, '<uuid>').replace(HEX_ID, '<hex>').replace(DIGITS, '<n>');
    const tmp = TMP_ENTRY.exec(g);
    if (tmp) g = `${tmp[1]}/<tmp>${g.slice(tmp[0].length)}`;
    return g;
  });
}

/** executable identity: a path generalised, or a bare name kept */
export function generaliseExe(path: string, name = ''): string {
  if (path) return generalisePath(path);
  return name ? name.replace(DIGITS, '<n>') : '';
}

/**
 * Whether a text is an IP address, and of which version (0: none): the one rule by which
 * addressClass, canonicalAddress, loginOrigin and a column of any table (generaliseValue)
 * tell an address, so that one host is one value however a table wrote it. Node's parser
 * takes every IPv6 form (`2a01:4f8:c17:1b2c:a00:27ff:fe4e:66a1` with no `::`, every group in
 * full as socket_events writes it, `::ffff:198.51.100.7`, a zone `%eth0`) and leaves out what
 * only has colons: a MAC (`aa:bb:cc:dd:ee:ff`, six groups), a time (`12:34:56`), an X
 * display (`:0`), a name with `::` in it (`Net::SSH`). Left out too: eight groups of two hex
 * digits, the byte string of an EUI-64 or a fibre channel WWN (`50:01:43:80:12:34:56:78`),
 * which parses as IPv6 but as an address would lie in ::/8, reserved and never assigned.
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  const a = text.trim();
  if (isIPv4(a)) return 4;
  if (!isIPv6(a) || /^[0-9a-f]{2}(?::[0-9a-f]{2}){7}$/i.test(a)) return 0;
  return 6;
}

/**
 * How osquery writes "no address": '' (a column it left unset, and NULL, which its log writes
 * as ''), and "0", which socket_events wrote up to 5.14 for the side a row has not (a bind's
 * remote, a connect's or an accept's local) and leaves unset since 5.15.0 (osquery #8510). One
 * class for both, so a host's binds do not turn new when its osquery is upgraded. `0.0.0.0` and
 * `::` are addresses: a listener's every interface, kept as `any`.
 */
function noAddress(addr: string): boolean {
  const a = addr.trim();
  return a === '' || a === '0';
}

/** address class and prefix: none, loopback, private, link-local, multicast, any (unspecified), public:198.51 */
export function addressClass(addr: string): string {
  if (noAddress(addr)) return 'none';
  return cached(`a${addr}`, () => {
    // an X display (`:0`) or a screen window (`10.1.2.3:S.0`) is no address, nor public
    if (!ipVersion(addr)) return 'name';
    const a = canonicalAddress(addr);
    if (a.includes(':')) return ipv6Class(a);
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
    if (!m) return 'name';
    const [o1, o2] = [Number(m[1]), Number(m[2])];
    if (a === '0.0.0.0') return 'any';
    if (o1 === 127) return 'loopback';
    if (o1 === 10 || (o1 === 172 && o2 >= 16 && o2 <= 31) || (o1 === 192 && o2 === 168)) return `private:${o1}.${o2}`;
    if (o1 === 100 && o2 >= 64 && o2 <= 127) return `cgnat:${o1}.${o2}`;
    if (o1 === 169 && o2 === 254) return 'link-local';
    if (o1 >= 224 && o1 <= 239) return 'multicast';
    return `public:${o1}.${o2}`;
  });
}

/**
 * Where a login came from, as wtmp's host says it: the address or name, or '' for a login
 * on this machine. Not every writer of wtmp puts an address there: gdm and lightdm write the
 * X display (`:0`), an xterm under `ssh -X` the forwarded display (`localhost:10.0`), screen
 * its session's host with the window after it (`198.51.100.4:S.0`, `:pts/3:S.1`).
 */
export function loginOrigin(host: string): string {
  let h = host.trim();
  if (!h || ipVersion(h) === 6) return h;
  h = h.replace(/:S\.\d+$/, '');
  if (ipVersion(h) === 6) return h;
  h = h.replace(/:\d+(?:\.\d+)?$/, '');
  return h.startsWith(':') || h === 'local' ? '' : h;
}

/**
 * The one text of an address, so that one peer is one string however a table wrote it: an
 * IPv6 address in RFC 5952's form, an IPv4 address reached through an IPv6 socket
 * (`::ffff:198.51.100.7`, `0000:…:ffff:c633:6407`) as that IPv4 address, anything else
 * trimmed and in lower case.
 */
export function canonicalAddress(addr: string): string {
  const a = addr.trim().toLowerCase();
  if (ipVersion(a) !== 6) return a;
  const v6 = canonicalIPv6(a);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * The one text of an IPv6 address (RFC 5952: lower case, zeros compressed, the zone left
 * out). osquery's audit tables write every group in full: socket_events has
 * `0000:0000:0000:0000:0000:0000:0000:0001` for `::1` and
 * `0000:0000:0000:0000:0000:ffff:c633:6407` for 198.51.100.7 reached through an IPv6
 * socket, which read as they are were both `public:0000:0000`.
 */
function canonicalIPv6(a: string): string {
  const zone = a.indexOf('%');
  const bare = zone < 0 ? a : a.slice(0, zone);
  try {
    // the URL parser writes an IPv6 host in that form
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return bare;
  }
}

function ipv6Class(a: string): string {
  if (a === '::') return 'any';
  if (a === '::1') return 'loopback';
  if (a.startsWith('fe80')) return 'link-local';
  if (a.startsWith('ff')) return 'multicast';
  if (a.startsWith('fc') || a.startsWith('fd')) return 'private:v6';
  const groups = a.split(':');
  return `public:${groups.slice(0, 2).join(':')}`;
}

/** registered service ports above 1023 that are kept exact, like the well-known ones */
const SERVICE_PORTS = new Set([
  1080, 1194, 1433, 1521, 2049, 2375, 2376, 3000, 3128, 3306, 3389, 4369, 5000, 5432, 5601, 5672, 5900, 5985, 5986, 6379, 6443, 8000, 8008, 8080, 8081, 8088,
  8443, 8888, 9000, 9090, 9092, 9100, 9200, 9300, 9418, 11211, 15672, 27017,
]);

/** well-known and service ports exact; others by range */
export function portClass(port: string): string {
  const n = Number(port);
  if (!port || !Number.isInteger(n) || n < 0) return 'none';
  if (n === 0) return '0';
  if (n < 1024 || SERVICE_PORTS.has(n)) return String(n);
  return n >= 32768 ? 'ephemeral' : 'high';
}

/**
 * Three-hour block of the day (UTC), e.g. `03-05`: exact hours make every routine look new
 * for the first weeks, while blocks still set 03:00 apart from office hours.
 */
export function hourOf(time: number): string {
  const h = new Date(time * 1000).getUTCHours();
  const start = h - (h % 3);
  return `${String(start).padStart(2, '0')}-${String(start + 2).padStart(2, '0')}`;
}

/** weekday or weekend: seven weekday values would need weeks of history to be trusted */
export function weekdayOf(time: number): string {
  const d = new Date(time * 1000).getUTCDay();
  return d === 0 || d === 6 ? 'weekend' : 'weekday';
}

/** tty kind: pts, tty, ssh, console, or the raw name generalised */
export function ttyClass(tty: string): string {
  if (!tty) return 'none';
  if (tty.startsWith('pts')) return 'pts';
  if (tty.startsWith('tty')) return 'tty';
  if (tty.startsWith('ssh')) return 'ssh';
  if (tty === 'console' || tty === ':0' || tty.startsWith(':')) return 'console';
  return tty.replace(DIGITS, '<n>');
}
