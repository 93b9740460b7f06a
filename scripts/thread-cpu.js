#!/usr/bin/env node
'use strict';
// CPU per process and per thread of a command and everything it starts (Linux): every 100 ms
// the process tree under the command is listed from /proc/*/stat and each thread's utime +
// stime read from /proc/PID/task/TID/stat; a thread's last reading stands for it once it has
// ended (up to 100 ms of its CPU can be missed). Threads of a process that share a name are
// summed (node's V8 and libuv workers are all `node`); a process's first thread is MAIN. The
// total from the kernel's accounting of the waited-for children (getrusage) comes first, which
// misses nothing. docs/benchmarks.md, "The demo's CPU, per thread, at fce2fe7".
//
// usage: node scripts/thread-cpu.js COMMAND [ARGS...]   (the table goes to stderr)
//   e.g. node scripts/thread-cpu.js node dist/cli/main.js demo --end 2026-11-22 --quiet --out DIR
const fs = require('fs');
const { spawn } = require('child_process');
const { setInterval, clearInterval } = require('timers');

const TICKS = 100; // USER_HZ, which /proc reports in on every Linux
const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  process.stderr.write('usage: node scripts/thread-cpu.js COMMAND [ARGS...]\n');
  process.exit(64);
}

/** the fields after a stat line's `(comm)`, and the comm */
function stat(file) {
  const s = fs.readFileSync(file, 'utf8');
  return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), rest: s.slice(s.lastIndexOf(')') + 2).split(' ') };
}

function tree(root) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(stat(`/proc/${d}/stat`).rest[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone while listed
    }
  }
  const out = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** `${pid}/${tid}` -> { process, thread, seconds }, the last reading of each thread */
const seen = new Map();
/** pid -> its command line as first read (an exiting process's reads empty) */
const names = new Map();
function sample(root) {
  for (const pid of tree(root)) {
    try {
      const argv = names.get(pid) || fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ').slice(0, 80);
      names.set(pid, argv);
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const { comm, rest } = stat(`/proc/${pid}/task/${tid}/stat`);
        const seconds = (Number(rest[11]) + Number(rest[12])) / TICKS;
        seen.set(`${pid}/${tid}`, { process: `${pid} ${argv}`, thread: Number(tid) === pid ? 'MAIN' : comm, seconds });
      }
    } catch {
      // the process or thread ended while read
    }
  }
}

const started = Date.now();
const child = spawn(cmd, args, { stdio: 'inherit' });
const timer = setInterval(() => sample(child.pid), 100);
child.on('exit', (code, signal) => {
  clearInterval(timer);
  // the waited-for children's CPU, as the kernel accounts it: cutime and cstime of this process
  const self = stat('/proc/self/stat').rest;
  const children = (Number(self[13]) + Number(self[14])) / TICKS;
  const lines = [`wall ${((Date.now() - started) / 1000).toFixed(1)} s; waited-for children ${children.toFixed(1)} s of CPU (user + system)`];
  const byProcess = new Map();
  for (const t of seen.values()) {
    if (!byProcess.has(t.process)) byProcess.set(t.process, new Map());
    const threads = byProcess.get(t.process);
    const prev = threads.get(t.thread) ?? { seconds: 0, count: 0 };
    threads.set(t.thread, { seconds: prev.seconds + t.seconds, count: prev.count + 1 });
  }
  for (const [proc, threads] of byProcess) {
    const total = [...threads.values()].reduce((s, t) => s + t.seconds, 0);
    if (total < 0.05) continue;
    lines.push(`pid ${proc}: ${total.toFixed(2)} s`);
    for (const [name, t] of [...threads].sort((a, b) => b[1].seconds - a[1].seconds))
      if (t.seconds >= 0.05) lines.push(`   ${name.padEnd(20)} x${String(t.count).padEnd(3)} ${t.seconds.toFixed(2).padStart(7)} s`);
  }
  process.stderr.write(lines.join('\n') + '\n');
  process.exitCode = signal ? 128 : (code ?? 128);
});
