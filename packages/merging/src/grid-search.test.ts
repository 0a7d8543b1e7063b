import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, setLogLevel } from '@modularevo/core-tensor';
import { temporaryDir } from '@modularevo/test-support';

import { GRID_CSV_NAME, GRID_JSON_NAME, coefficientRange, gridSearch } from './grid-search';

setLogLevel('warn');

describe('coefficient grid search', () => {
  it('coefficientRange gives the paper grid exactly', () => {
    expect(coefficientRange(0.4, 1.2, 0.1)).toEqual([0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2]);
    expect(coefficientRange(1, 1, 0.5)).toEqual([1]);
    expect(() => coefficientRange(1, 0, 0.1)).toThrow(InvalidInputError);
  });

  it('scores every point, keeps every score and returns the best mean', async () => {
    const runDir = path.join(temporaryDir(), 'run');
    const seen: number[][] = [];
    // task 1 peaks at coefficient 0.8 of model 1, task 2 at 0.6 of model 2
    const result = await gridSearch({
      grid: [coefficientRange(0.4, 1.2, 0.2), [0.4, 0.6, 0.8]],
      score: ([a, b]) => {
        seen.push([a, b]);
        return [1 - Math.abs(a - 0.8), 1 - Math.abs(b - 0.6) - 0.1 * a];
      },
      taskNames: ['math', 'law, cases'],
      runDir,
    });

    expect(seen).toHaveLength(15);
    expect(result.points).toHaveLength(15);
    expect(result.best.coefficients).toEqual([0.8, 0.6]);
    expect(result.best.mean).toBeCloseTo((1 + 0.92) / 2, 12);

    const saved = JSON.parse(fs.readFileSync(path.join(runDir, GRID_JSON_NAME), 'utf8'));
    expect(saved.points).toHaveLength(15);
    expect(saved.best.coefficients).toEqual([0.8, 0.6]);
    const csv = fs.readFileSync(path.join(runDir, GRID_CSV_NAME), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('coefficient_1,coefficient_2,math,"law, cases",mean');
    expect(csv).toHaveLength(16);
  });

  it('rejects an empty grid and invalid scores', async () => {
    await expect(gridSearch({ grid: [[1], []], score: () => [1] })).rejects.toThrow(/Empty coefficient grid/);
    await expect(gridSearch({ grid: [[1, 2]], score: () => [NaN] })).rejects.toThrow(/return one finite score per task/);
    let calls = 0;
    await expect(gridSearch({ grid: [[1, 2]], score: () => (++calls === 1 ? [1] : [1, 2]) })).rejects.toThrow(/earlier 1/);
  });
});
