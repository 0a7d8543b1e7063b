import { seededRandom } from '../../test/helpers';
import { disjointMerge, disjointMergeOfTwo, majoritySign } from './consensus';

/** Reference TIES disjoint merge written plainly from its definition (float32 after each step). */
function reference(rows: Float32Array[], majority: number): Float32Array {
  const out = new Float32Array(rows[0].length);
  for (let i = 0; i < out.length; i++) {
    let sum = rows[0][i];
    for (let row = 1; row < rows.length; row++) sum = Math.fround(sum + rows[row][i]);
    let sign = Math.sign(sum);
    if (sum === 0) sign = majority;
    let agreeing = 0;
    let count = 0;
    for (const values of rows) {
      if ((sign > 0 && values[i] > 0) || (sign < 0 && values[i] < 0)) {
        agreeing = Math.fround(agreeing + values[i]);
        count++;
      }
    }
    out[i] = Math.fround(agreeing / Math.max(count, 1));
  }
  return out;
}

function randomRows(seed: number, count: number, length: number): Float32Array[] {
  const random = seededRandom(seed);
  const rows = Array.from({ length: count }, () => new Float32Array(length));
  for (let i = 0; i < length; i++) {
    for (const row of rows) row[i] = random() < 0.4 ? 0 : Math.round((random() * 2 - 1) * 8) / 16;
    // exact cancellation between the first two rows
    if (count > 1 && random() < 0.1) rows[1][i] = -rows[0][i];
  }
  return rows;
}

describe('TIES disjoint merge', () => {
  it.each([[1], [2], [3], [5]])('%i rows match the definition for every majority sign', (count) => {
    const rows = randomRows(count, count, 2000);
    for (const majority of [-1, 0, 1]) {
      const out = new Float32Array(2000);
      disjointMerge(rows, majority, out);
      expect(Array.from(out, (value) => value + 0)).toEqual(Array.from(reference(rows, majority), (value) => value + 0));
    }
  });

  it('two-row path equals the general loop', () => {
    const rows = randomRows(9, 2, 5000);
    const general = new Float32Array(5000);
    const general3 = [...rows, new Float32Array(5000)];
    disjointMerge(general3, 1, general); // a third row of zeros takes the general loop and changes nothing
    const two = new Float32Array(5000);
    disjointMergeOfTwo(rows[0], rows[1], 1, two);

    // equal values; the sign of a zero result may differ, which adds nothing to the base either way
    expect(Array.from(two, (value) => value + 0)).toEqual(Array.from(general, (value) => value + 0));
  });

  it('majority sign follows the elected sign counts', () => {
    expect(majoritySign({ positive: 5, negative: 2 })).toBe(1);
    expect(majoritySign({ positive: 2, negative: 5 })).toBe(-1);
    expect(majoritySign({ positive: 3, negative: 3 })).toBe(0);
  });
});
