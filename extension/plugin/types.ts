// What a plugin is to the server: a registry, a name, the route info broadcast at
// registration, and one call per request (the osquery-go shape).

export type Row = Record<string, string>;

export interface PluginResponse {
  code: number;
  message?: string;
  /** rows may come lazily: the server encodes them as they come, within a byte budget */
  rows?: Iterable<Row> | AsyncIterable<Row>;
  /**
   * what the answer commits once its caller has it (the alert route's "answered" marks): the
   * server runs it once, from the callback of the successful write of the reply that carried
   * these rows, and never for a reply not written whole (the caller gone, a write that failed,
   * an answer refused, cut or made again, a rehearsal)
   */
  delivered?: () => void;
}

export interface Plugin {
  registry: 'table' | 'logger';
  name: string;
  routes(): Array<Record<string, string>>;
  /**
   * `oversize` gives the request keys (and sizes) whose values were too large to keep: the server read
   * past them so the call can still be answered, and their value in `request` is ''.
   */
  call(request: Record<string, string>, oversize: ReadonlyMap<string, number>): PluginResponse | Promise<PluginResponse>;
}
