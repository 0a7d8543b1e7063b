import * as nodePath from 'path';
import * as fs from 'fs';

import { InvalidInputError, getLogger, writeFileAtomic, writeJsonAtomic } from '@modularevo/core-tensor';

const log = getLogger('merging');

/** Names of the files a grid search writes into its run folder. */
export const GRID_JSON_NAME = 'coefficient-grid.json';
export const GRID_CSV_NAME = 'coefficient-grid.csv';

/** One evaluated grid point: the coefficients (one per model) and the validation score of each task. */
export interface GridPoint {
  coefficients: number[];
  scores: number[];
  /** Mean of `scores`, by which points are ranked. */
  mean: number;
}

/** All grid points in evaluation order and the best one by mean score. */
export interface GridSearchResult {
  points: GridPoint[];
  best: GridPoint;
}

/** A coefficient grid search. */
export interface GridSearchOptions {
  /** Candidate coefficients of each model; every combination is evaluated. */
  grid: number[][];
  /**
   * Merges with `coefficients` and returns one validation score per task (higher is better).
   * Scores must be finite numbers, the same count at every point.
   */
  score: (coefficients: number[]) => number[] | Promise<number[]>;
  /** Task names for the CSV header and logs (default `task_1`, `task_2`, ...). */
  taskNames?: string[];
  /** Run folder that receives `coefficient-grid.json` and `coefficient-grid.csv` (for a heat map). */
  runDir?: string;
}

/**
 * Returns `start, start + step, ..., stop` (inclusive), rounded to 12 decimals so that
 * `coefficientRange(0.4, 1.2, 0.1)` yields exactly 0.4, 0.5, ..., 1.2 (the grid the ModularEvo
 * paper searches per model).
 */
export function coefficientRange(start: number, stop: number, step: number): number[] {
  if (![start, stop, step].every(Number.isFinite) || step <= 0 || stop < start) {
    throw new InvalidInputError(`Invalid coefficient range ${start} to ${stop} step ${step}: need start <= stop and step > 0`);
  }
  const count = Math.floor((stop - start) / step + 1e-9) + 1;
  return Array.from({ length: count }, (_, index) => Math.round((start + index * step) * 1e12) / 1e12);
}

/**
 * Evaluates every combination of the grid's coefficients with `score`, keeps every score, and
 * returns all points with the best by mean score (the first one on ties). With `runDir`, writes
 * the grid as JSON and CSV there, after every point so that an interrupted search keeps its work.
 * @throws InvalidInputError for an empty grid or a score callback that returns invalid scores.
 */
export async function gridSearch(options: GridSearchOptions): Promise<GridSearchResult> {
  const combinations = cartesianProduct(options.grid);
  const points: GridPoint[] = [];
  let best: GridPoint | undefined;
  log.info(`Grid search over ${combinations.length} coefficient combinations for ${options.grid.length} models`);

  for (const [index, coefficients] of combinations.entries()) {
    const scores = await options.score([...coefficients]);
    checkScores(scores, coefficients, points[0]?.scores.length);
    const point: GridPoint = { coefficients, scores: [...scores], mean: scores.reduce((sum, value) => sum + value, 0) / scores.length };
    points.push(point);
    if (!best || point.mean > best.mean) best = point;

    log.info(
      `Grid point ${index + 1}/${combinations.length}: coefficients [${coefficients.join(', ')}] ` +
        `scores [${scores.map((score) => score.toFixed(4)).join(', ')}] mean ${point.mean.toFixed(4)}`,
    );
    if (options.runDir) writeGrid(options.runDir, points, best, options.taskNames);
  }

  log.info(`Best coefficients [${best!.coefficients.join(', ')}] with mean score ${best!.mean.toFixed(4)}`);
  return { points, best: best! };
}

function cartesianProduct(grid: number[][]): number[][] {
  if (grid.length === 0 || grid.some((values) => values.length === 0)) {
    throw new InvalidInputError('Empty coefficient grid: give at least one candidate coefficient per model');
  }
  grid.forEach((values, model) =>
    values.forEach((value) => {
      if (!Number.isFinite(value)) throw new InvalidInputError(`Invalid grid coefficient ${value} for model ${model + 1}`);
    }),
  );
  return grid.reduce<number[][]>((combinations, values) => combinations.flatMap((prefix) => values.map((value) => [...prefix, value])), [[]]);
}

function checkScores(scores: unknown, coefficients: number[], expectedCount: number | undefined): void {
  if (!Array.isArray(scores) || scores.length === 0 || !scores.every((score) => typeof score === 'number' && Number.isFinite(score))) {
    throw new InvalidInputError(
      `The score callback returned ${JSON.stringify(scores)} for coefficients [${coefficients.join(', ')}]; return one finite score per task`,
    );
  }
  if (expectedCount !== undefined && scores.length !== expectedCount) {
    throw new InvalidInputError(`The score callback returned ${scores.length} scores, earlier ${expectedCount}: return one score per task every time`);
  }
}

function writeGrid(runDir: string, points: GridPoint[], best: GridPoint | undefined, taskNames?: string[]): void {
  fs.mkdirSync(runDir, { recursive: true });
  const tasks = taskNames ?? points[0].scores.map((_, index) => `task_${index + 1}`);
  writeJsonAtomic(nodePath.join(runDir, GRID_JSON_NAME), { tasks, points, best });

  const models = points[0].coefficients.length;
  const header = [...Array.from({ length: models }, (_, index) => `coefficient_${index + 1}`), ...tasks, 'mean'].map(csvField);
  const rows = points.map((point) => [...point.coefficients, ...point.scores, point.mean].join(','));
  writeFileAtomic(nodePath.join(runDir, GRID_CSV_NAME), `${[header.join(','), ...rows].join('\n')}\n`);
}

function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
