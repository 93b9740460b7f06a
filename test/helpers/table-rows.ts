import type { ModelsSource } from '../../extension/tables/models';
import type { Plugin, PluginResponse } from '../../extension/plugin/types';
import type { ModelSummary } from '../../scorer/types';

/** the rows of a table plugin's answer, taken as the server takes them */
export async function rowsOf(res: PluginResponse): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for await (const r of res.rows ?? []) out.push(r as Record<string, string>);
  return out;
}

/** one generate call of `plugin` with these constraints */
export async function generated(plugin: Plugin, constraints: unknown[] = []): Promise<Record<string, string>[]> {
  return rowsOf(await plugin.call({ action: 'generate', context: JSON.stringify({ constraints }) }, new Map()));
}

/** an anomaly_models source of these summaries, its counters at zero */
export function modelsSource(models: () => ModelSummary[], backend = 'cpu'): ModelsSource {
  return {
    models,
    backend: () => backend,
    counters: () => ({ received: 0, accepted: 0, rejected: 0, queued: 0, scored: 0, dropped: 0, set_aside: 0 }),
    cpuMsPerMinute: () => 0,
    budgetMsPerMinute: () => null,
  };
}
