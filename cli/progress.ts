// Progress for long work: a redrawn bar on a terminal; when stderr is a file or a pipe, plain
// lines only when a stage starts, when it completes, and at most one a minute in between, so
// CI logs stay readable.

const PLAIN_EVERY_MS = 60_000;

export interface Progress {
  update(stage: string, done: number, total: number): void;
  done(message?: string): void;
}

export function progress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { update() {}, done() {} };
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  let lastStage = '';
  let completed = '';
  let drawn = false;
  return {
    update(stage, done, total) {
      const now = Date.now();
      if (tty) {
        const width = 30;
        const frac = total > 0 ? Math.min(1, done / total) : 0;
        const bar = total > 0 ? `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(0).padStart(3)}%` : '';
        stream.write(`\r\x1b[2K${stage} ${bar} ${done.toLocaleString('en-US')}${total > 0 ? `/${total.toLocaleString('en-US')}` : ''}`);
        drawn = true;
        return;
      }
      const complete = total > 0 && done >= total;
      if (complete ? completed !== stage : stage !== lastStage || now - lastPlain >= PLAIN_EVERY_MS) {
        stream.write(`${stage}: ${done.toLocaleString('en-US')}${total > 0 ? ` of ${total.toLocaleString('en-US')}` : ''}\n`);
        lastPlain = now;
        lastStage = stage;
        if (complete) completed = stage;
      }
    },
    done(message) {
      if (tty && drawn) stream.write('\r\x1b[2K');
      if (message) stream.write(`${message}\n`);
    },
  };
}
