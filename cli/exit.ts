/** sysexits(3) codes, so scripts and service managers can tell failures apart */
export const EXIT = {
  ok: 0,
  /** `score --fail-on-bad` found a bad row */
  findings: 1,
  usage: 64,
  dataerr: 65,
  noinput: 66,
  unavailable: 69,
  software: 70,
  cantcreat: 73,
  ioerr: 74,
  /** the state directory is in use (a running extension): try again once it stops */
  tempfail: 75,
  config: 78,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
