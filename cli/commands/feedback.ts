import { parseFlags } from '../flags';
import { CliError, EXIT } from '../exit';
import { callExtension, findExtensionSocket } from './remote';

export const help = `Usage: anomaly feedback ID normal|anomalous [--note TEXT] [--socket PATH]

Label a scored event (an id from anomaly_scores) in the running extension, the same as
  INSERT INTO anomaly_feedback (id, label, note) VALUES ('ID', 'normal', 'TEXT');
normal     learn the event and stop flagging the same generalised event for that subject
anomalous  never learn it, and keep flagging it whenever it recurs

Options:
  --note TEXT    why (kept with the label)
  --socket PATH  osqueryd's extensions socket (default /var/osquery/osquery.em, or
                 ANOMALY_SOCKET), or the extension's own socket PATH.<uuid>; a fleet
                 agent may start osqueryd with another --extensions_socket: see
                 ps -o args= -C osqueryd
`;

export async function run(argv: string[]): Promise<number> {
  const { flags, rest } = parseFlags(argv, { socket: { kind: 'value' }, note: { kind: 'value' } }, 2);
  const [id, label] = rest;
  if (!id || !label) throw new CliError('feedback needs ID and a label (normal or anomalous)', EXIT.usage);
  if (label !== 'normal' && label !== 'anomalous') throw new CliError(`label must be normal or anomalous, not ${JSON.stringify(label)}`, EXIT.usage);
  const socket = await findExtensionSocket(flags.socket as string | undefined, 'feedback');
  const note = (flags.note as string | undefined) ?? '';
  // osquery's insert request for a writable extension table: the values in column order
  const res = await callExtension(socket, 'table', 'anomaly_feedback', {
    action: 'insert',
    auto_rowid: 'true',
    json_value_array: JSON.stringify([id, label, note, null]),
  });
  const status = res.response?.[0]?.status;
  if (res.status?.code !== 0 || (status && status !== 'success')) {
    throw new CliError(`feedback refused: ${res.status?.message || res.response?.[0]?.message || status || 'unknown error'}`, EXIT.dataerr);
  }
  // what the label does, and what it does not: the row already scored keeps its score, so
  // a user who looks at it again would think the label did nothing
  const effect =
    label === 'normal'
      ? 'later rows of the same event for this subject score at least 0.7 ("marked normal by feedback")'
      : 'later rows of the same event for this subject stay below 0.3 and are never learnt';
  process.stdout.write(`labelled ${id} ${label}: ${effect}; rows already scored keep their scores. SELECT * FROM anomaly_feedback lists every label.\n`);
  return EXIT.ok;
}
