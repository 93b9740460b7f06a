// JSON.stringify(value), handed over in pieces of about `size` characters instead of one
// string. A host baseline's state is its window of 20,000 and more events: one string of
// 15–20 MB, built by doubling a buffer, then copied into a Buffer of as many bytes to be
// written, all of it resident at once while the scorer thread saves (every minute while the
// window changes), which osqueryd's watcher counts as growth (docs/benchmarks.md, "Memory,
// third pass"). In pieces the peak is one piece and one event's text. The text is the one
// JSON.stringify writes (test/json-pieces.test.ts): plain objects and arrays are walked here,
// in JSON.stringify's order and with its rules for members it leaves out (undefined,
// functions, symbols) or writes as null (in arrays); any other value, including one with a
// toJSON() (given its key, as JSON.stringify gives it), is stringified whole, as it is small.

const isPlain = (v: unknown): v is object => {
  if (v === null || typeof v !== 'object' || typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return Array.isArray(v) ? proto === Array.prototype : proto === Object.prototype || proto === null;
};

/**
 * JSON.stringify's text for `value` as the member `key` of what holds it (undefined where it
 * writes nothing). A toJSON is called with the member's key (an element's index), which a
 * JSON.stringify of the value alone gives as '': `{ at: { toJSON: (k) => k } }` was written
 * `{"at":""}`. Such a value is stringified inside a holder of one member, and the member's text
 * taken out of it.
 */
function memberText(key: string, value: unknown): string | undefined {
  const toJSON = value !== null && (typeof value === 'object' || typeof value === 'bigint') ? (value as { toJSON?: unknown }).toJSON : undefined;
  if (typeof toJSON !== 'function') return JSON.stringify(value) as string | undefined;
  const name = JSON.stringify(key);
  const held = JSON.stringify({ [key]: value });
  return held === '{}' ? undefined : held.slice(name.length + 2, -1);
}

/**
 * Calls `write` with consecutive pieces whose concatenation is JSON.stringify(value) (false,
 * and nothing written, when that is undefined). Plain objects are walked member by member and
 * arrays element by element; an element, and any value that is not a plain object or array,
 * is one JSON.stringify call (an event of a window, a model's weights).
 */
export function stringifyInPieces(value: unknown, write: (piece: string) => void, size = 1 << 16): boolean {
  if (!isPlain(value)) {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return false;
    write(text);
    return true;
  }
  // joined once per piece: a string grown by += is a rope of thousands of small strings
  let parts: string[] = [];
  let length = 0;
  const put = (s: string) => {
    parts.push(s);
    length += s.length;
    if (length >= size) {
      write(parts.join(''));
      parts = [];
      length = 0;
    }
  };
  const walk = (v: object): void => {
    if (Array.isArray(v)) {
      put('[');
      for (let i = 0; i < v.length; i++) {
        const element: unknown = v[i];
        if (isPlain(element) && !Array.isArray(element) && Object.values(element).some((m) => Array.isArray(m) && m.length > 64)) {
          // an element that holds a long array itself (a subject in a list of subjects)
          put(i ? ',' : '');
          walk(element);
          continue;
        }
        // undefined, functions and symbols are null in an array, as JSON.stringify writes them
        put(`${i ? ',' : ''}${memberText(String(i), element) ?? 'null'}`);
      }
      put(']');
      return;
    }
    put('{');
    let first = true;
    for (const key of Object.keys(v)) {
      const member: unknown = (v as Record<string, unknown>)[key];
      if (isPlain(member)) {
        put(`${first ? '' : ','}${JSON.stringify(key)}:`);
        walk(member);
      } else {
        // left out of an object when JSON.stringify would write nothing for it
        const text = memberText(key, member);
        if (text === undefined) continue;
        put(`${first ? '' : ','}${JSON.stringify(key)}:${text}`);
      }
      first = false;
    }
    put('}');
  };
  walk(value);
  if (length) write(parts.join(''));
  return true;
}
