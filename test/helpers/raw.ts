import * as net from 'net';
import { ByteBudget, MessageReader, MessageType, MessageWriter, TType, type Message, type Value } from '../../extension/wire';

// Talking to an extension socket byte by byte, as a hostile or broken client would.

/** the bytes of Extension.call(registry, item, request) */
export function callBytes(registry: string, item: string, request: Record<string, string>, seqid = 1): Buffer {
  const w = new MessageWriter().begin('call', MessageType.CALL, seqid);
  w.field(TType.STRING, 1).string(registry).field(TType.STRING, 2).string(item);
  const entries = Object.entries(request);
  w.field(TType.MAP, 3).byte(TType.STRING).byte(TType.STRING).i32(entries.length);
  for (const [k, v] of entries) w.string(k).string(v);
  w.stop();
  return Buffer.concat(w.finish());
}

export function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * connect, waiting while the listen backlog is full: a unix socket refuses a connect with
 * EAGAIN (not a wait) once the server has more pending connections than the backlog, and a
 * flood from one client outruns the accept loop on a loaded machine
 */
export async function connectWaiting(path: string, waitedMs = { total: 0 }): Promise<net.Socket> {
  for (let pause = 5, mine = 0; ; pause = Math.min(pause * 2, 200)) {
    try {
      return await connect(path);
    } catch (err) {
      // a server that never accepts again is a failure, not a wait
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || mine > 60_000) throw err;
      mine += pause;
      await new Promise((r) => setTimeout(r, pause));
      waitedMs.total += pause;
    }
  }
}

/** the next reply on a socket, or an error if the socket closes first */
export function nextReply(socket: net.Socket): Promise<Message> {
  return new Promise((resolve, reject) => {
    const reader = new MessageReader({ maxString: 1 << 30, maxMessage: 1 << 30, shared: new ByteBudget(2 ** 40) }, (m) => {
      cleanup();
      resolve(m);
    });
    const onData = (d: Buffer) => reader.push(d);
    const onClose = () => {
      cleanup();
      reject(new Error('connection closed without a reply'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** write a buffer, waiting for the socket to drain */
export function send(socket: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** status code and message of a call reply */
export function statusOf(m: Message): { code: number; message: string; rows: Array<Record<string, string>> } {
  const result = m.args.get(0) as Map<number, Value>;
  const status = result.get(1) as Map<number, Value>;
  const list = (result.get(2) as Array<Array<[Value, Value]>>) ?? [];
  return {
    code: status.get(1) as number,
    message: status.get(2) as string,
    rows: list.map((pairs) => Object.fromEntries(pairs.map(([k, v]) => [k as string, v as string]))),
  };
}
