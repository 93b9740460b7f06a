import type { QueryOverride } from '../../conf/config';
import type { BehaviourEvent, ResultRow } from '../types';
import { addressClass, generaliseExe, generalisePath, hourOf, portClass, ttyClass, VOLATILE, weekdayOf } from './generalise';
import { TemplateMiner, type MinerState } from './miner';
import { resolveSubject, UidMap } from './subject';

// A result row → (subject, BehaviourEvent). The event key names what happened in the
// generalised vocabulary the models learn: `exec /usr/bin/nc <- /bin/bash`,
// `connect /usr/bin/curl -> public:198.51:443`, `login pts from public:203.0`.

export type QueryKind = 'process' | 'socket' | 'listen' | 'login' | 'shell' | 'file' | 'other';

const KIND_BY_NAME: Array<[RegExp, QueryKind]> = [
  [/process_events|processes|process(?!_open)|proc_/, 'process'],
  [/socket_events|open_sockets|process_open_sockets|sockets|connections/, 'socket'],
  [/listening_ports|listening|ports/, 'listen'],
  [/logged_in_users|\blast\b|_last$|^last|logins?|wtmp/, 'login'],
  [/shell_history|history/, 'shell'],
  [/file_events|fim|file_changes/, 'file'],
];

/** numeric strings and masks that command-line templates should not keep */
const CMD_MASKS = [/(\d+\.){3}\d+(:\d+)?/g, /\b[0-9a-f]{8,}\b/gi, /(?<=[\s=:/])\d+\b/g];

/** where pids resolve to executables, per host, for parents and sockets */
const PID_CACHE_MAX = 20_000;

export interface ExtractorState {
  miner: MinerState;
  users: Array<[string, string]>;
}

export class FeatureExtractor {
  private readonly miner: TemplateMiner;
  private readonly pidExe = new Map<string, string>();
  private readonly interned = new Map<string, string>();
  private readonly users: UidMap;
  private readonly overrides: Record<string, QueryOverride>;

  constructor(opts: { users: UidMap; overrides: Record<string, QueryOverride> }, miner?: TemplateMiner) {
    this.users = opts.users;
    this.overrides = opts.overrides;
    // depth 5: the executable and its first argument lead down the tree, so `git push …` and
    // `git pull …` never compete for one template
    this.miner = miner ?? new TemplateMiner({ masks: CMD_MASKS, similarity: 0.5, depth: 5, maxTemplates: 20_000 });
  }

  /** identical strings share one copy: windows of events repeat the same few tokens */
  private intern(s: string): string {
    const hit = this.interned.get(s);
    if (hit !== undefined) return hit;
    if (this.interned.size > 200_000) this.interned.clear();
    this.interned.set(s, s);
    return s;
  }

  kindOf(row: ResultRow): QueryKind {
    const name = row.query.toLowerCase();
    for (const [re, kind] of KIND_BY_NAME) if (re.test(name)) return kind;
    const c = row.columns;
    if ('target_path' in c) return 'file';
    if ('remote_address' in c || 'remote_port' in c) return 'socket';
    if ('command' in c && ('history_file' in c || 'uid' in c)) return 'shell';
    if ('tty' in c && ('host' in c || 'type' in c)) return 'login';
    if ('port' in c && ('address' in c || 'protocol' in c)) return 'listen';
    if ('cmdline' in c || ('path' in c && 'parent' in c)) return 'process';
    return 'other';
  }

  extract(row: ResultRow): { subject: string; event: BehaviourEvent } {
    const override = this.overrides[row.query];
    const subject = resolveSubject(row, this.users, override);
    const c = row.columns;
    const kind = this.kindOf(row);
    const values: string[] = [];
    const pairs: string[] = [];
    let key: string;
    let text = '';
    const v = (field: string, value: string) => {
      values.push(this.intern(`${field}=${value}`));
      return value;
    };
    const pair = (a: string, x: string, b: string, y: string) => pairs.push(this.intern(`${a}=${x}>${b}=${y}`));
    v('kind', kind);

    switch (kind) {
      case 'process': {
        const exe = generaliseExe(c.path ?? '', c.name ?? '');
        if (c.pid && exe) this.rememberPid(row.host, c.pid, exe);
        const parent = this.parentOf(row);
        const cmd = this.commandTemplate(c.cmdline ?? '', exe);
        text = c.cmdline ?? '';
        v('exe', exe);
        v('parent', parent);
        v('cmd', cmd);
        if (c.cwd) v('cwd', generalisePath(c.cwd));
        pair('parent', parent, 'exe', exe);
        pair('exe', exe, 'cmd', cmd);
        if (c.euid !== undefined && c.uid !== undefined && c.euid !== c.uid) pair('exe', exe, 'euid', c.euid === '0' ? 'root' : 'other');
        key = `exec ${exe} <- ${parent}`;
        break;
      }
      case 'socket': {
        const exe = generaliseExe(c.path ?? '', c.name ?? '') || this.pidExe.get(`${row.host}:${c.pid}`) || 'unknown';
        const action = (c.action || (c.remote_address ? 'connect' : 'bind')).toLowerCase();
        const raddr = addressClass(c.remote_address ?? '');
        const rport = portClass(c.remote_port ?? '');
        const lport = portClass(c.local_port ?? '');
        v('exe', exe);
        v('action', action);
        v('raddr', raddr);
        v('rport', rport);
        if (action !== 'connect') v('lport', lport);
        pair('exe', exe, 'rport', rport);
        pair('exe', exe, 'raddr', raddr);
        key = action === 'connect' ? `connect ${exe} -> ${raddr}:${rport}` : `${action} ${exe} :${lport}`;
        break;
      }
      case 'listen': {
        const exe = generaliseExe(c.path ?? '', c.name ?? '') || this.pidExe.get(`${row.host}:${c.pid}`) || 'unknown';
        const port = portClass(c.port ?? '');
        const proto = c.protocol === '17' ? 'udp' : c.protocol === '6' ? 'tcp' : c.protocol || '';
        v('exe', exe);
        v('lport', port);
        v('laddr', addressClass(c.address ?? ''));
        pair('exe', exe, 'lport', port);
        key = `listen ${exe} :${port}/${proto}`;
        break;
      }
      case 'login': {
        const tty = ttyClass(c.tty ?? '');
        const src = c.host ? addressClass(c.host) : 'local';
        const type = c.type_name || c.type || '';
        v('tty', tty);
        v('src', src);
        if (type) v('type', type);
        pair('src', src, 'hour', hourOf(row.time));
        key = `login ${tty} from ${src}`;
        break;
      }
      case 'shell': {
        const command = c.command ?? '';
        const exe = command.trim().split(/\s+/)[0] ?? '';
        const cmd = this.commandTemplate(command, exe);
        text = command;
        v('exe', exe);
        v('cmd', cmd);
        pair('exe', exe, 'cmd', cmd);
        key = `shell ${cmd}`;
        break;
      }
      case 'file': {
        const path = generalisePath(c.target_path ?? c.path ?? '');
        const action = c.action ?? '';
        v('path', path);
        v('action', action);
        pair('action', action, 'path', path);
        key = `file ${action} ${path}`;
        break;
      }
      default: {
        const parts: string[] = [];
        for (const k of Object.keys(c).sort()) {
          if (VOLATILE.has(k) || parts.length >= 6) continue;
          const val = generaliseValue(c[k]);
          if (!val) continue;
          v(k, val);
          parts.push(`${k}=${val}`);
        }
        key = `${shortQuery(row.query)} ${parts.join(' ')}`;
      }
    }
    if (override?.key?.length) {
      key = `${shortQuery(row.query)} ${override.key.map((k) => `${k}=${generaliseValue(c[k] ?? '')}`).join(' ')}`;
    }
    const hour = hourOf(row.time);
    v('hour', hour);
    v('day', weekdayOf(row.time));
    v('query', shortQuery(row.query));
    pair('kind', kind, 'hour', hour);
    if (row.action === 'removed') v('removed', 'yes');
    return { subject, event: { key: this.intern(key.length > 300 ? key.slice(0, 300) : key), values, pairs, text, time: row.time } };
  }

  private rememberPid(host: string, pid: string, exe: string): void {
    if (this.pidExe.size >= PID_CACHE_MAX) this.pidExe.delete(this.pidExe.keys().next().value as string);
    this.pidExe.set(`${host}:${pid}`, exe);
  }

  /** the parent's executable from the row itself, else from earlier rows of that pid */
  private parentOf(row: ResultRow): string {
    const c = row.columns;
    const direct = c.parent_path || c.ppath || c.parent_exe;
    if (direct) return generalisePath(direct);
    const name = c.parent_name || c.pname;
    if (name) return name;
    if (c.pcmdline) return c.pcmdline.trim().split(/\s+/)[0] ?? 'unknown';
    return (c.parent && this.pidExe.get(`${row.host}:${c.parent}`)) || 'unknown';
  }

  /** executable plus the mined template of the arguments, e.g. `tar czf <*> <*>` */
  private commandTemplate(cmdline: string, exe: string): string {
    const trimmed = cmdline.trim();
    if (!trimmed) return exe ? baseName(exe) : '';
    const tokens = trimmed.split(/\s+/);
    tokens[0] = baseName(tokens[0]);
    const line = tokens.slice(0, 24).map((t) => (t.startsWith('/') ? generalisePath(t) : t)).join(' ');
    const template = this.miner.add(line).template;
    return template.length > 160 ? template.slice(0, 160) : template;
  }

  toState(): ExtractorState {
    return { miner: this.miner.toState(), users: this.users.toState() };
  }

  static fromState(state: ExtractorState, opts: { users: UidMap; overrides: Record<string, QueryOverride> }): FeatureExtractor {
    if (!state || !state.miner) throw new Error('extractor state has no template miner');
    if (state.users?.length) opts.users.load(state.users);
    return new FeatureExtractor(opts, TemplateMiner.fromState(state.miner));
  }
}

function baseName(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 ? p.slice(i + 1) : p;
}

function shortQuery(name: string): string {
  // pack_<pack>_<query>: the pack name may itself contain '_' (pack_external_pack_x)
  const m = /^pack_(?:external_pack|[^_]+)_(.+)$/.exec(name);
  return m ? m[1] : name;
}

function generaliseValue(value: string): string {
  if (!value) return '';
  if (value.startsWith('/') || value.startsWith('~')) return generalisePath(value);
  if (/^(\d{1,3}\.){3}\d{1,3}$/.test(value) || value.includes('::')) return addressClass(value);
  return value.length > 80 ? `${value.slice(0, 80)}…` : value.replace(/\d+/g, '<n>');
}

/** an event of a sequence data set: an HDFS log key or a syscall number */
export function sequenceEvent(key: string, _index: number): BehaviourEvent {
  return { key, values: [`key=${key}`], pairs: [], text: '', time: 0 };
}
