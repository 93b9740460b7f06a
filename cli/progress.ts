// Progress for long work: a redrawn bar on a terminal, plain lines (at most one every few
// seconds) when stderr is a file or a pipe, so CI logs stay readable.

export interface Progress {
  update(stage: string, done: number, total: number): void;
  done(message?: string): void;
}

export function progress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  if (quiet) return { update() {}, done() {} };
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  let lastStage = '';
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
      if (stage !== lastStage || now - lastPlain >= 5000 || (total > 0 && done >= total)) {
        stream.write(`${stage}: ${done.toLocaleString('en-US')}${total > 0 ? ` of ${total.toLocaleString('en-US')}` : ''}\n`);
        lastPlain = now;
        lastStage = stage;
      }
    },
    done(message) {
      if (tty && drawn) stream.write('\r\x1b[2K');
      if (message) stream.write(`${message}\n`);
    },
  };
}
