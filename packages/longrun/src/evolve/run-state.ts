/**
 * The run state file, `state.json`: which plan steps have finished, how long each took, and how
 * long `metrics.jsonl` was after the last one. It is rewritten atomically after every step, so
 * a run stopped at any moment resumes from its last finished step: the unfinished step's
 * outputs are removed and the metrics file is cut back to the recorded length.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, METRICS_FILE, writeJsonAtomic } from '@modularevo/core-tensor';

/** File name of the run state in a run folder. */
export const STATE_FILE = 'state.json';

const STATE_FORMAT = 'modularevo-evolve-state';

/** One finished step. */
export interface FinishedStep {
  id: string;
  /** Wall-clock seconds the step took. */
  seconds: number;
}

/** Contents of `state.json`. */
export interface RunState {
  format: typeof STATE_FORMAT;
  version: 1;
  /** Finished steps in the order they finished. */
  finished: FinishedStep[];
  /** Bytes of `metrics.jsonl` after the last finished step. */
  metricsBytes: number;
  /** Whether every step has finished. */
  complete: boolean;
}

/** Returns the state of a run that has not started. */
export function emptyRunState(): RunState {
  return { format: STATE_FORMAT, version: 1, finished: [], metricsBytes: 0, complete: false };
}

/**
 * Reads `state.json` of a run folder.
 *
 * @throws CheckpointError when it is missing or malformed
 */
export function readRunState(runDir: string): RunState {
  const file = path.join(runDir, STATE_FILE);
  let state: Partial<RunState>;
  try {
    state = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `cannot be read (${(error as Error).message})`, 'Pass the folder of an evolution run started by modularevo evolve');
  }
  if (state.format !== STATE_FORMAT || !Array.isArray(state.finished) || typeof state.metricsBytes !== 'number') {
    throw new CheckpointError(file, `is not an evolution run state (format ${JSON.stringify(state.format)})`);
  }
  return { format: STATE_FORMAT, version: 1, finished: state.finished, metricsBytes: state.metricsBytes, complete: state.complete === true };
}

/** Writes `state.json` atomically. */
export function writeRunState(runDir: string, state: RunState): void {
  writeJsonAtomic(path.join(runDir, STATE_FILE), state);
}

/** Returns the time spent in the finished steps, in seconds. */
export function runSeconds(state: RunState): number {
  return state.finished.reduce((sum, step) => sum + step.seconds, 0);
}

/**
 * Cuts `metrics.jsonl` back to the length recorded after the last finished step, dropping the
 * lines an interrupted step wrote.
 *
 * @throws CheckpointError when the file is shorter than recorded (it was edited or replaced)
 */
export function truncateMetrics(runDir: string, state: RunState): void {
  const file = path.join(runDir, METRICS_FILE);
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  if (size < state.metricsBytes) {
    throw new CheckpointError(file, `has ${size} bytes but the run state records ${state.metricsBytes}`, 'The metrics of the finished steps are lost; start the run again in a new folder');
  }
  if (size > state.metricsBytes) fs.truncateSync(file, state.metricsBytes);
}

/** Returns the current length of `metrics.jsonl` in bytes (0 when absent). */
export function metricsLength(runDir: string): number {
  const file = path.join(runDir, METRICS_FILE);
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}
