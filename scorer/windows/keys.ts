// The table of event keys a window subject or pool names its rows by: ids in place of strings,
// bounded, so that a subject that never repeats a key does not grow without end.

/** distinct keys remembered per subject; rarer keys beyond it share one id */
const MAX_KEYS = 5_000;
/** the id of `(other)`, first in every key table: the keys past MAX_KEYS share it */
export const OTHER_KEY = 0;

/** a key's id in a bounded table of keys (past MAX_KEYS, the shared `(other)`) */
export function internKey(keys: string[], ids: Map<string, number>, key: string): number {
  let id = ids.get(key);
  if (id !== undefined) return id;
  if (keys.length >= MAX_KEYS) return OTHER_KEY;
  id = keys.length;
  keys.push(key);
  ids.set(key, id);
  return id;
}
