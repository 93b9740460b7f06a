// The one logging signature: the extension's logger, the scorer (and its worker), the state
// stores and the CLI all take a LogFn, so any of them can be wired to any sink.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string) => void;
