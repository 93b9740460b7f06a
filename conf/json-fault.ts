// Where JSON.parse stopped, as an editor counts it. Node 20 names a character offset ("at
// position 31"), which nobody can find in a hand-edited config; a refused config keeps the
// extension, and so osqueryd, down on that host until it is fixed.

/** ` at line L, column C: what was expected`, or `: what went wrong` when the parser names no place */
export function jsonFault(text: string, err: Error): string {
  const message = err.message;
  const at = /^(.*?) in JSON at position (\d+)/.exec(message);
  const offset = at ? Number(at[2]) : NaN;
  // a cut file: the parser stops at its end ("Unexpected end of JSON input", or a position there)
  if (/^Unexpected end of JSON input/.test(message) || offset >= text.length) return `: the file ends inside a value${text.trim() ? '' : ' (it is empty)'}`;
  if (!at) return `: ${message}`;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return ` at line ${line}, column ${column}: ${at[1]}`;
}
