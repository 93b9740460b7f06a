/** sysexits(3) codes, so scripts and service managers can tell failures apart */
export const EXIT = {
  ok: 0,
  /** `score`/`eval` found nothing wrong but was asked to fail on findings, and did */
  findings: 1,
  usage: 64,
  dataerr: 65,
  noinput: 66,
  unavailable: 69,
  software: 70,
  cantcreat: 73,
  config: 78,
} as const;

export class CliError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'CliError';
  }
}
