import { isCodeOption } from './lineage';
import { baseName, isShell } from './security';

// The form of a command line, whatever its program: code given inline to an interpreter, an
// encoded blob or its decoding, text piped into a shell. A person's routine has few such lines
// and an attacker's stage has them in every program it runs (`python -c 'import base64,zlib;
// exec(…)'`, `curl … | sh`, `echo <blob> | base64 -d`): the first such form in a subject's
// commands is a new kind of behaviour, where its program and template alone are one more new
// value of fields where new values are common (docs/evaluation.md, "argform").

export type ArgumentForm = 'inline-code' | 'encoded' | 'pipe-shell';

/** what of a command line is read: its head only, so a line of megabytes costs as one of 4 KiB */
const MAX_CHARS = 4096;
const MAX_WORDS = 64;

/**
 * Command shells: their `-c` code is read as commands of its own (cron's `/bin/sh -c …` is
 * routine everywhere); the other interpreters of isShell given code inline are `inline-code`.
 */
const COMMAND_SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'csh', 'tcsh', 'fish', 'ash', 'busybox']);

/** programs that run the command after their options (`sudo -u raj python3 -c …`) */
const WRAPPERS = new Set(['sudo', 'doas', 'env', 'nohup', 'exec', 'nice', 'ionice', 'timeout', 'time', 'stdbuf', 'setsid', 'command', 'xargs']);
/** wrappers' options that take the next word as their value (`sudo -u raj`) */
const VALUE_OPTION = /^-[ugCDhprtUn]$/;

/** decoders run as programs: `base64 -d`, `xxd -r` */
const DECODE_OPTION: Record<string, RegExp> = { base64: /^-(?:\w*[dD]\w*|-decode)$/, xxd: /^-(?:\w*r\w*|revert)$/ };
/** decoding in code: Python's, Perl's, PHP's, JavaScript's, .NET's */
const DECODE_CALL = /\b(?:b64decode|b32decode|a85decode|unhexlify|fromhex|decode_base64|base64_decode|atob|FromBase64String)\b|['"](?:base64|hex)['"]/;
/** a run of the base64 alphabet long enough to hold a payload (an SSH key's head, a stage) */
const BASE64_RUN = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
/** a hex run longer than any digest (SHA-512 is 128): git's and container ids are routine */
const HEX_RUN = /[0-9a-fA-F]{129,}/;
const SEPARATOR = /(\|\||\||&&|[;&()`\n]|\$\()/;
/**
 * Interpreters' options that take the next word as their value, so that the options after it
 * are still read: `python3 -W ignore -c …`, `php -d x=1 -r …`, `node -r fs -e …`, `bash -o
 * pipefail -c …` (stopping at the value let code given after it pass as no form, rev2)
 */
const OPTION_VALUE: Record<string, RegExp> = {
  python: /^-[WXQ]$/,
  ruby: /^-[IrEC]$/,
  php: /^-[dcz]$/,
  node: /^(?:-r|-C|--require|--import|--loader|--experimental-loader|--input-type|--conditions)$/,
  perl: /^-I$/,
};
const SHELL_OPTION_VALUE = /^[-+][oO]$/;

/**
 * The forms of a command line (see the top of this file), each once, in a fixed order; none
 * for most lines. Reads the first MAX_CHARS characters and MAX_WORDS words. Also what tells the
 * rarity model an event extracted before `argform` existed (rarity.ts CARRIED_WITH).
 */
export function argumentForms(cmdline: string): ArgumentForm[] {
  const text = cmdline.slice(0, MAX_CHARS);
  const found = new Set<ArgumentForm>();
  const parts = text.split(SEPARATOR);
  let budget = MAX_WORDS;
  for (let i = 0; i < parts.length && budget > 0; i += 2) {
    const words = parts[i]
      .split(/[\s'"]+/)
      .filter(Boolean)
      .slice(0, budget);
    budget -= words.length;
    const starts = commandStarts(words);
    if (starts.length === 0) continue;
    // text piped into a shell or an interpreter that reads its code there: `curl … | sh`,
    // `| sudo bash -s`, `| python3`; not `| bash script.sh` or `| xargs sh -c …`
    if (parts[i - 1] === '|' && readsCodeFromInput(words, starts[0])) found.add('pipe-shell');
    for (const at of starts) {
      const program = programName(words[at]);
      if (isShell(program) && !COMMAND_SHELLS.has(program) && codeOptionAt(program, words, at + 1) >= 0) found.add('inline-code');
      const decode = DECODE_OPTION[program];
      if (decode && optionsOf(words, at + 1).some((w) => decode.test(w))) found.add('encoded');
    }
  }
  if (DECODE_CALL.test(text) || HEX_RUN.test(text) || hasBase64Blob(text)) found.add('encoded');
  return (['inline-code', 'encoded', 'pipe-shell'] as const).filter((f) => found.has(f));
}

/** a program's name, an interpreter's version dropped as isShell drops it: `/opt/conda/bin/python3.11` → python, `base64` */
function programName(word: string): string {
  const name = baseName(word);
  const bare = name.replace(/[\d.]+$/, '');
  return bare && isShell(bare) ? bare : name;
}

/** the option words right after `from`, up to the first operand */
function optionsOf(words: string[], from: number): string[] {
  const out: string[] = [];
  for (let i = from; i < words.length && words[i].startsWith('-'); i++) out.push(words[i]);
  return out;
}

/** where the option giving code to `program` is among its options from `from`; -1 when none */
function codeOptionAt(program: string, words: string[], from: number): number {
  for (let i = from; i < words.length && words[i].startsWith('-'); i++) {
    if (isCodeOption(program, words[i])) return i;
    if (takesValue(program, words[i])) i++;
  }
  return -1;
}

function takesValue(program: string, option: string): boolean {
  return (COMMAND_SHELLS.has(program) ? SHELL_OPTION_VALUE : OPTION_VALUE[program])?.test(option) ?? false;
}

/**
 * Whether the shell or interpreter at `at` takes its code from its input: no code given by an
 * option and no script named, or told to read it there (`sh -s`, `python3 -`).
 */
function readsCodeFromInput(words: string[], at: number): boolean {
  const program = programName(words[at]);
  if (!isShell(program)) return false;
  for (let i = at + 1; i < words.length; i++) {
    const w = words[i];
    if (w === '-' || (COMMAND_SHELLS.has(program) && /^-\w*s\w*$/.test(w))) return true;
    if (!w.startsWith('-') || isCodeOption(program, w)) return false;
    if (takesValue(program, w)) i++;
  }
  return true;
}

/**
 * Where the commands of one segment of a line begin: its program past any wrapper (`sudo -u
 * raj`, `env X=1`, `timeout 10`), and the program of a command shell's `-c` code, which is
 * a command line of its own (`sh -c python3 -c …`).
 */
function commandStarts(words: string[]): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < words.length) {
    while (i < words.length && WRAPPERS.has(programName(words[i]))) {
      i++;
      while (i < words.length && (words[i].startsWith('-') || /^\w+=/.test(words[i]) || /^\d+[smhd]?$/.test(words[i]))) {
        i += VALUE_OPTION.test(words[i]) ? 2 : 1;
      }
    }
    if (i >= words.length) break;
    out.push(i);
    const program = programName(words[i]);
    if (!COMMAND_SHELLS.has(program)) break;
    const code = codeOptionAt(program, words, i + 1);
    if (code < 0) break;
    i = code + 1;
  }
  return out;
}

/**
 * A run of the base64 alphabet of 40 characters or more that reads as random: upper and lower
 * case and digits, changing class at least every third character or so, and few of `+/-_`.
 * A path (`/`-separated words), a long option name, an identifier in CamelCase do not.
 */
function hasBase64Blob(text: string): boolean {
  for (const m of text.matchAll(BASE64_RUN)) {
    const run = m[0].replace(/=+$/, '');
    if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/\d/.test(run)) continue;
    // a payload's `+/-_` are 1 in 32 of its characters; a path's slashes 1 in 10 or so
    if (run.replace(/[A-Za-z0-9]/g, '').length * 12 > run.length) continue;
    let changes = 0;
    for (let i = 1; i < run.length; i++) if (charClass(run[i]) !== charClass(run[i - 1])) changes++;
    if (changes >= 0.3 * run.length) return true;
  }
  return false;
}

function charClass(c: string): number {
  if (c >= 'a' && c <= 'z') return 0;
  if (c >= 'A' && c <= 'Z') return 1;
  if (c >= '0' && c <= '9') return 2;
  return 3;
}
