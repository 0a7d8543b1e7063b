/**
 * Checks on the folders a workflow writes, made before any work starts, so that a run never
 * mixes its logs or outputs with an earlier run's.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, METRICS_FILE, TRAINING_CHECKPOINT_DIR } from '@modularevo/core-tensor';

/** Returns whether `dir` exists and contains at least one entry. */
export function isNonEmptyFolder(dir: string): boolean {
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory() && fs.readdirSync(dir).length > 0;
}

/**
 * Checks that an output folder can be written: it must not exist as a file, and must be absent
 * or empty unless `overwrite` is set.
 *
 * @throws InvalidInputError naming the folder and the flag that allows replacing it
 */
export function checkOutputFolder(dir: string, description: string, overwrite: boolean): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new InvalidInputError(`The ${description} ${dir} is a file; choose a folder path`);
  }
  if (isNonEmptyFolder(dir) && !overwrite) {
    throw new InvalidInputError(`The ${description} ${dir} already exists and is not empty; choose another folder, remove it, or pass overwrite`);
  }
}

/**
 * Checks a run folder before a run starts. A fresh run needs a folder without `metrics.jsonl`
 * and without a training checkpoint, so its logs start clean (`overwrite` removes both). A
 * resumed run needs the checkpoint of the interrupted run.
 *
 * @throws InvalidInputError when a fresh run would append to an earlier run's logs, or a resumed
 *   run finds no checkpoint
 */
export function checkRunFolder(runDir: string, options: { resume?: boolean; overwrite?: boolean }): void {
  if (fs.existsSync(runDir) && !fs.statSync(runDir).isDirectory()) {
    throw new InvalidInputError(`The run folder ${runDir} is a file; choose a folder path`);
  }
  const checkpoint = path.join(runDir, TRAINING_CHECKPOINT_DIR);
  if (options.resume) {
    if (!fs.existsSync(path.join(checkpoint, 'trainer_state.json'))) {
      throw new InvalidInputError(`Cannot resume: the run folder ${runDir} has no training checkpoint; start without resume, or pass the run folder of the interrupted run`);
    }
    return;
  }

  const earlier = [METRICS_FILE, TRAINING_CHECKPOINT_DIR].filter((name) => fs.existsSync(path.join(runDir, name)));
  if (earlier.length > 0 && !options.overwrite) {
    throw new InvalidInputError(
      `The run folder ${runDir} contains an earlier run (${earlier.join(', ')}); resume it, choose another run folder, or pass overwrite to start over`,
    );
  }
}

/** Removes the logs and checkpoint of an earlier run from `runDir`, for a fresh run with overwrite. */
export function clearRunFolder(runDir: string): void {
  for (const name of [METRICS_FILE, TRAINING_CHECKPOINT_DIR, 'summary.json']) {
    fs.rmSync(path.join(runDir, name), { recursive: true, force: true });
  }
}
