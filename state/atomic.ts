import * as fs from 'fs';
import * as path from 'path';

// State files are written so that a crash at any moment leaves either the old file or the
// new one, never half of one: temp file in the same directory, fsync, rename, fsync of the
// directory. Every file says what it is and in which format version, so that a file from
// another program or another version is recognised instead of misread.

export const FORMAT = 'anomaly-ext';

export class StateFileError extends Error {
  constructor(readonly file: string, readonly quarantinedTo: string | null, detail: string) {
    super(`${file}: ${detail}${quarantinedTo ? `; moved to ${quarantinedTo}` : ''}`);
    this.name = 'StateFileError';
  }
}

export function writeStateFile(file: string, kind: string, version: number, payload: unknown): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const header = `{"format":${JSON.stringify(FORMAT)},"kind":${JSON.stringify(kind)},"version":${version},"written":${Math.floor(Date.now() / 1000)},"payload":`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, header);
    fs.writeSync(fd, JSON.stringify(payload));
    fs.writeSync(fd, '}\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/**
 * The payload of a state file, or undefined when there is none. A corrupt, foreign or
 * incompatible file is moved to `<dir>/quarantine/` and reported with a StateFileError.
 */
export function readStateFile(file: string, kind: string, version: number): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(file, null, `cannot read: ${(err as Error).message}`);
  }
  let doc: { format?: unknown; kind?: unknown; version?: unknown; payload?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, quarantine(file), `corrupt (not complete JSON: ${(err as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || doc.format !== FORMAT) {
    throw new StateFileError(file, quarantine(file), `not an ${FORMAT} state file`);
  }
  if (doc.kind !== kind) {
    throw new StateFileError(file, quarantine(file), `holds ${JSON.stringify(doc.kind)} state where ${JSON.stringify(kind)} was expected`);
  }
  if (doc.version !== version) {
    throw new StateFileError(file, quarantine(file), `format version ${JSON.stringify(doc.version)}, this build reads version ${version}`);
  }
  return doc.payload;
}

/** move a bad file aside, keeping it for inspection; returns where it went */
export function quarantine(file: string): string | null {
  const dir = path.join(path.dirname(file), 'quarantine');
  const target = path.join(dir, `${path.basename(file)}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.renameSync(file, target);
    return target;
  } catch {
    return null;
  }
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * An append-only JSON-lines file (feedback, segments): appends are written at once and
 * fsynced on a short timer and on close, so a burst of appends costs one fsync.
 */
export class JsonlAppender {
  private fd: number;
  private dirty = false;
  private timer: NodeJS.Timeout;

  constructor(readonly file: string, syncEveryMs = 200) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a', 0o600);
    this.timer = setInterval(() => this.sync(), syncEveryMs);
    this.timer.unref();
  }

  append(record: unknown): void {
    fs.writeSync(this.fd, `${JSON.stringify(record)}\n`);
    this.dirty = true;
  }

  sync(): void {
    if (!this.dirty) return;
    fs.fsyncSync(this.fd);
    this.dirty = false;
  }

  close(): void {
    clearInterval(this.timer);
    this.sync();
    fs.closeSync(this.fd);
  }
}

/** records of a JSON-lines file; a torn or corrupt line is skipped and reported */
export function readJsonl<T>(file: string, warn: (msg: string) => void = () => {}): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]) continue;
    try {
      out.push(JSON.parse(lines[i]) as T);
    } catch {
      warn(`${file}:${i + 1}: skipped a ${i === lines.length - 1 ? 'torn last' : 'corrupt'} line`);
    }
  }
  return out;
}
