import { MODEL_COLUMNS } from '../../extension/tables/models';
import { parseFlags } from '../flags';
import { CliError, EXIT } from '../exit';
import { callExtension, findExtensionSocket } from './remote';
import { jsonText, table } from './shared';

export const help = `Usage: anomaly status [--socket PATH] [--json]

Show the running extension's subjects and models (the anomaly_models table): lifecycle
state, events seen, last training, calibration size, tfjs backend, and the ingest counters;
then the CPU the process used in the last minute and the budget it paces to.

Options:
  --socket PATH  osqueryd's extensions socket (default /var/osquery/osquery.em, or
                 ANOMALY_SOCKET), or the extension's own socket PATH.<uuid>; a fleet
                 agent may start osqueryd with another --extensions_socket: see
                 ps -o args= -C osqueryd
  --json         print the rows as JSON lines
`;

const COLUMNS = [
  'subject',
  'model',
  'state',
  'events',
  'last_trained',
  'calibration',
  'backend',
  'received',
  'accepted',
  'rejected',
  'queued',
  'scored',
  'dropped',
  'set_aside',
];

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, { socket: { kind: 'value' }, json: { kind: 'bool' } });
  const socket = await findExtensionSocket(flags.socket as string | undefined, 'status');
  const res = await callExtension(socket, 'table', 'anomaly_models', { action: 'generate', context: JSON.stringify({ constraints: [] }) });
  if (res.status?.code !== 0) throw new CliError(`anomaly_models: ${res.status?.message ?? 'failed'}`, EXIT.unavailable);
  // (each row's columns only: a row also carries the rowid osqueryd reads, extension/plugin/rowid.ts)
  const models = (res.response ?? []).map((r) => Object.fromEntries(MODEL_COLUMNS.filter((c) => r[c.name] !== undefined).map((c) => [c.name, r[c.name]])));
  const rows = models.map((r) => ({
    ...r,
    last_trained: r.last_trained && r.last_trained !== '0' ? new Date(Number(r.last_trained) * 1000).toISOString().replace('.000Z', 'Z') : '',
  }));
  if (flags.json) for (const r of models) process.stdout.write(jsonText(r) + '\n');
  else process.stdout.write(`extension socket ${socket}\n` + table(rows, COLUMNS) + cpuLine(models));
  return EXIT.ok;
}

/** the `*` row's CPU and budget (osqueryd's watchdog, design.md), too wide for the table */
function cpuLine(rows: ReadonlyArray<Record<string, string>>): string {
  const star = rows.find((r) => r.subject === '*');
  if (!star?.cpu_ms_per_min) return '';
  const n = (v: string) => Number(v).toLocaleString('en-US');
  const budget = star.budget_ms_per_min
    ? `paced to ${n(star.budget_ms_per_min)} ms per minute (the tighter of osqueryd's watchdog limit and half its cgroup's CPU quota, or the config's budget.cpu_percent; the extension's log at start says which)`
    : 'not paced: osqueryd does not watch this extension, its cgroup has no CPU quota, and the config sets no budget.cpu_percent';
  return `CPU: ${n(star.cpu_ms_per_min)} ms in the last minute (the process, every thread); ${budget}\n`;
}
