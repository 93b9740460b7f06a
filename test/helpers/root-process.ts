import { FeatureExtractor } from '../../scorer/features/extract';
import { UidMap } from '../../scorer/features/subject';
import { createModel } from '../../scorer/models';
import type { BehaviourEvent, Evidence, Model, ResultRow } from '../../scorer/types';

// A host's process rows as the audit pack logs them, and root's two models fitted on a routine
// of them through the product's extractor (unattended-run, boot-start).

export interface Ids {
  uid: string;
  euid?: string;
  auid: string;
}

/** one `pack_hids_process_events` row of `host` */
export function processRow(host: string, pid: number, parent: number, path: string, cmdline: string, time: number, ids: Ids): ResultRow {
  return {
    query: 'pack_hids_process_events',
    host,
    time,
    action: 'added',
    columns: { pid: String(pid), parent: String(parent), path, cmdline, cwd: '/', uid: ids.uid, euid: ids.euid ?? ids.uid, auid: ids.auid, time: String(time) },
    decorations: {},
  };
}

/** an extractor that learnt the routine, and rarity and the SVM fitted on its events */
export async function fittedOn(routine: readonly ResultRow[]): Promise<{ x: FeatureExtractor; rarity: Model; ocsvm: Model }> {
  const x = new FeatureExtractor({ users: new UidMap(), overrides: {} });
  const train = routine.map((r) => x.extract(r).event);
  const rarity = createModel('rarity');
  const ocsvm = createModel('ocsvm');
  await rarity.fit([train]);
  await ocsvm.fit([train]);
  return { x, rarity, ocsvm };
}

export async function scoreOf(model: Model, e: BehaviourEvent): Promise<Evidence> {
  return (await model.score([{ event: e, context: [] }]))[0];
}
