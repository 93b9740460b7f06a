// What a plugin is to the server: a registry, a name, the route info broadcast at
// registration, and one call per request (the osquery-go shape).

export interface PluginResponse {
  code: number;
  message?: string;
  rows?: Array<Record<string, string>>;
}

export interface Plugin {
  registry: 'table' | 'logger';
  name: string;
  routes(): Array<Record<string, string>>;
  call(request: Record<string, string>): PluginResponse | Promise<PluginResponse>;
}
