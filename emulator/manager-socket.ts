import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { sunPathProblem } from '../extension/sun-path';

// The manager socket's file, owned by one emulator at a time. A run killed before its stop
// leaves the file behind; a later start removes it, as osqueryd does. But a run that is only
// slow (a demo whose npm parent was killed, its own process still logging) is alive: a second
// start used to unlink its socket and bind anew, and when the first then stopped, its close
// unlinked the path again, now the second's socket, so the second's extension met "socket
// not available" for all of its --timeout.

/** the identity of a bound socket file, to tell ours from one that replaced it */
export interface BoundSocket {
  dev: number;
  ino: number;
}

/** whether something accepts connections at `file` (a live manager), not just a file left there */
export function answers(file: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(file);
    const done = (alive: boolean) => {
      clearTimeout(t);
      c.destroy();
      resolve(alive);
    };
    // a live manager on a loaded host can be slow to accept: a connect that neither succeeds
    // nor is refused is not taken for a stale file
    const t = setTimeout(() => done(true), timeoutMs);
    c.once('connect', () => done(true));
    // a full backlog (EAGAIN) is a live manager too; refused or missing is a file left behind
    c.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EAGAIN'));
  });
}

/**
 * Listen on `file` with `server`. The socket is bound in a private directory and renamed into
 * place: libuv unlinks the path it bound when the server closes, whatever file is there by
 * then, so the bound path must be one no one else will ever use.
 */
export async function listenAt(server: net.Server, file: string): Promise<BoundSocket> {
  // a path libuv would cut binds elsewhere: the file itself, which clients connect to, and the
  // staging name `.bXXXXXX/s`, no longer than it for a name of 10 bytes or more and at most 9
  // longer, so any manager path the extension takes (97 bytes, extension/args.ts) is served
  // (a longer prefix cut the bind to a stray `.manager-bin` beside it, review rev2)
  const tooLong = sunPathProblem(file);
  if (tooLong) throw new Error(`cannot serve the manager socket: ${tooLong}`);
  const staging = fs.mkdtempSync(path.join(path.dirname(file), '.b'));
  try {
    const bound = path.join(staging, 's');
    const cut = sunPathProblem(bound);
    if (cut) throw new Error(`cannot serve the manager socket: ${cut}`);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    try {
      fs.renameSync(bound, file);
      const st = fs.lstatSync(file);
      return { dev: st.dev, ino: st.ino };
    } catch (err) {
      // a server left listening at the staging name serves no one and keeps the process (a
      // test, the demo) alive for good: the start fails, and says why
      server.close();
      throw err;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** whether `file` is still the socket this emulator bound (not one a later start put there) */
export function stillOurs(file: string, bound: BoundSocket | null): boolean {
  if (!bound) return false;
  try {
    const st = fs.lstatSync(file);
    return st.dev === bound.dev && st.ino === bound.ino;
  } catch {
    return false;
  }
}
