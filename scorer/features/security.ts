import { addressClass } from './generalise';

// Features that carry security meaning, as plain classes the models weigh like any other
// value (no rule decides anything here): where an executable lives, whether a process
// changed privilege, what kind of address a connection or a listener faces.

// dpkg's database of maintainer scripts (`/var/lib/dpkg/info/nginx.postinst`) is installed from
// packages and written by dpkg alone, as /usr/lib is: where it lives says system
const SYSTEM_DIRS = /^\/(?:usr\/(?:local\/)?(?:s?bin|lib(?:exec|32|64)?|share|games)|s?bin|lib(?:32|64)?|opt|snap|nix|etc|var\/lib\/dpkg\/info)\//;
const TEMP_DIRS = /^\/(?:tmp|var\/tmp|dev\/shm|run\/shm|run\/user\/\d+|var\/run\/user\/\d+|run\/lock|var\/lock|var\/crash)(?:\/|$)/;
const HOME_DIRS = /^\/(?:home\/[^/]+|root|var\/home\/[^/]+)(?:\/|$)/;
/**
 * a hidden name in a path: a component that starts with a dot, but `.` and `..` (which name
 * where one is and its parent). `...` and `..x` are hidden names, as `.x` is: each starts
 * with a dot and ls leaves it out, which is why an attacker's staging directory is often one
 */
const HIDDEN_NAME = /(?:^|\/)\.(?!\.?(?:\/|$))/;

/** whether a path has a hidden name in it (HIDDEN_NAME) */
export function hasHiddenName(path: string): boolean {
  return HIDDEN_NAME.test(path);
}

/**
 * Location class of an executable's path: system, home, temp (world-writable), other, plus
 * `-hidden` when a path component is hidden; `deleted` when the binary is gone from disk
 * (osquery shows `… (deleted)`), `memory` for memfd, `unknown` when the row has no path.
 */
export function exeLocation(path: string): string {
  if (!path) return 'unknown';
  if (path.endsWith(' (deleted)')) return 'deleted';
  if (path.startsWith('memfd:') || path.startsWith('/memfd:')) return 'memory';
  const base = TEMP_DIRS.test(path) ? 'temp' : HOME_DIRS.test(path) ? 'home' : SYSTEM_DIRS.test(path) ? 'system' : path.startsWith('/') ? 'other' : 'relative';
  return hasHiddenName(path) ? `${base}-hidden` : base;
}

// Where a changed file lives, by what the place is for: the accounts and their credentials,
// SSH's keys, what starts programs by itself (cron, systemd units, init scripts, login
// profiles, the dynamic loader's preload), the logs, the programs and libraries, other
// configuration; else where any path lives (exeLocation). These are the places ATT&CK's
// persistence, credential and defence-evasion techniques write to; which of them a host
// changes in its routine (a config manager rewriting /etc daily) is for the models to learn.
// (review13: sudo's plugins, doas, polkit's rules and where accounts come from, NSS, say who may
// do what as well as sudoers does)
const AUTH_FILES =
  /^\/etc\/(?:passwd|shadow|group|gshadow|sudoers|subuid|subgid|security\/|pam\.d\/|sudo\.conf$|doas\.conf$|polkit-1\/|nsswitch\.conf$)|^\/etc\/sudoers\.d\//;
const SSH_FILES = /(?:^|\/)\.ssh(?:\/|$)|^\/etc\/ssh\//;
// (review13: besides cron, units, init scripts and login profiles, the places whose files the
// system runs or loads by itself and that read as `config`: apt's hooks, udev's RUN+=,
// logrotate's postrotate, the loader's search path, shells' startup files, modules loaded at
// boot with modprobe's `install` commands, NetworkManager's and dhclient's hooks, sysctl's
// core_pattern)
const AUTOSTART_FILES =
  /^\/(?:etc\/(?:cron[^/]*|anacrontab|systemd|init\.d|init|rc[^/]*\.d|rc\.local|profile|profile\.d|bash\.bashrc|environment|ld\.so\.preload|xdg\/autostart|update-motd\.d|apt\/apt\.conf\.d|udev\/rules\.d|logrotate\.d|ld\.so\.conf|ld\.so\.conf\.d|bash_completion\.d|zsh|zshenv|zprofile|zshrc|zlogin|fish|csh\.cshrc|csh\.login|modprobe\.d|modules|modules-load\.d|NetworkManager\/dispatcher\.d|dhcp\/dhclient-(?:enter|exit)-hooks\.d|sysctl\.conf|sysctl\.d)|var\/spool\/cron|(?:usr\/)?lib\/systemd)(?:\/|$)|\/\.(?:bashrc|bash_profile|profile|bash_login|zshrc|config\/(?:systemd|autostart))(?:\/|$)/;
const LOG_FILES = /^\/var\/log(?:\/|$)|\/\.(?:bash_|zsh_)?history$/;
const PROGRAM_DIRS = /^\/(?:usr\/(?:local\/)?(?:s?bin|lib(?:exec|32|64)?)|s?bin|lib(?:32|64)?|var\/lib\/dpkg\/info)\//;

export function fileLocation(path: string): string {
  if (!path) return 'unknown';
  if (AUTH_FILES.test(path)) return 'accounts';
  if (SSH_FILES.test(path)) return 'ssh';
  if (AUTOSTART_FILES.test(path)) return 'autostart';
  if (LOG_FILES.test(path)) return 'log';
  if (PROGRAM_DIRS.test(path)) return 'programs';
  if (path.startsWith('/etc/')) return 'config';
  return exeLocation(path);
}

const UNSET = new Set(['', '-1', '4294967295']);

/** whether the row says no login is behind its process (an auid set to −1; absent or empty says nothing) */
export function withoutLogin(c: Record<string, string>): boolean {
  return c.auid === '4294967295' || c.auid === '-1';
}

/**
 * How the process's identity differs from who started it: a set-uid binary (euid ≠ uid),
 * a login user acting as another (auid ≠ uid, as after sudo or su), or none.
 */
export function privilegeTransition(c: Record<string, string>): string {
  const { uid, euid, auid } = c;
  if (uid !== undefined && euid !== undefined && euid !== uid) return euid === '0' ? 'setuid-root' : 'setuid';
  if (uid !== undefined && auid !== undefined && !UNSET.has(auid) && auid !== uid) return uid === '0' ? 'login-to-root' : 'login-to-other';
  return 'none';
}

/** public, internal (private, CGNAT, link-local), loopback, any, multicast, name or none */
export function networkClass(addr: string): string {
  const a = addressClass(addr);
  const colon = a.indexOf(':');
  const kind = colon < 0 ? a : a.slice(0, colon);
  return kind === 'private' || kind === 'cgnat' || kind === 'link-local' ? 'internal' : kind;
}

/** shells and interpreters: what an attacker's commands run in */
const SHELLS = new Set([
  'sh',
  'bash',
  'dash',
  'zsh',
  'ksh',
  'mksh',
  'csh',
  'tcsh',
  'fish',
  'busybox',
  'ash',
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'php',
  'lua',
  'node',
  'pwsh',
]);
const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'aria2c', 'tftp', 'ftp', 'lwp-download', 'scp', 'sftp', 'rsync', 'nc', 'ncat', 'netcat', 'socat']);

export function baseName(p: string): string {
  const i = p.lastIndexOf('/');
  return (i >= 0 ? p.slice(i + 1) : p).replace(/ \(deleted\)$/, '');
}

export function isShell(exe: string): boolean {
  return SHELLS.has(baseName(exe).replace(/[\d.]+$/, '') || baseName(exe));
}

/**
 * The operating system's package managers: what they run below them (maintainer scripts,
 * triggers such as ldconfig, mandb, systemctl daemon-reload, service restarts) is shipped in
 * the packages they install, as root, and differs with every set of packages. Language
 * package managers (pip, npm) are not among them: what they run is a build the user chose.
 */
const PACKAGE_MANAGERS = new Set(['dpkg', 'apt', 'apt-get', 'aptitude', 'unattended-upgrade', 'rpm', 'yum', 'dnf', 'microdnf', 'zypper', 'pacman', 'apk']);

export function isPackageManager(exe: string): boolean {
  return PACKAGE_MANAGERS.has(baseName(exe));
}

export function isDownloader(exe: string): boolean {
  return DOWNLOADERS.has(baseName(exe));
}
