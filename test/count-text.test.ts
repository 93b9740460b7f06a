import t from 'tap';
import { countText } from '../scorer/count-text';

// The reasons print counts through countText (remembered, for the scoring path's sake): the
// strings must be toLocaleString's, before and after the memo fills and is cleared.

t.test('countText prints what toLocaleString("en-US") prints, past the memo filling up', async (t) => {
  const values = [0, 1, 999, 1000, 1824, 12_345, 1_234_567, 0.5, 2.25, -3, 2 ** 53];
  for (let i = 0; i < 600; i++) values.push(i * 997);
  // twice: the second pass reads what the first remembered (or what survived the clearing)
  for (const pass of [1, 2]) for (const v of values) t.equal(countText(v), v.toLocaleString('en-US'), `${v}, pass ${pass}`);
});
