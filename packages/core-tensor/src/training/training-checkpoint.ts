import * as fs from 'fs';
import * as nodePath from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { writeFolderAtomic, writeJsonAtomic } from '../checkpoint/atomic';
import { loadSafetensors, saveSafetensors } from '../checkpoint/safetensors';
import { formatShape, sameShape, type StateDict } from '../checkpoint/state-dict';
import { CheckpointError, MismatchError } from '../errors';
import type { AdamW } from './adamw';

/** Folder of the resumable checkpoint inside a run folder. */
export const TRAINING_CHECKPOINT_DIR = 'checkpoint';

const STATE_FILE = 'trainer_state.json';
const PARAMETERS_FILE = 'parameters.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';

/** Training position, as `trainer_state.json` stores it (with Hugging Face Trainer field names where one exists). */
export interface TrainerState {
  /** Optimizer steps completed. */
  global_step: number;
  /** Index of the epoch in progress. */
  epoch: number;
  /** Micro-batches of that epoch already used; a resumed run skips them. */
  batches_in_epoch: number;
  best_metric: number | null;
  best_step: number | null;
  evaluations_since_best: number;
  /** Tokens seen so far, when the caller counts them. */
  tokens: number;
}

/**
 * Writes a resumable checkpoint to `dir` (replacing an older one atomically): the trained
 * parameters (`parameters.safetensors`), the optimizer state (`optimizer.safetensors`) and
 * `trainer_state.json`.
 */
export async function saveTrainingCheckpoint(
  dir: string,
  parameters: readonly tf.Variable[],
  optimizer: AdamW,
  state: TrainerState,
): Promise<void> {
  const values: StateDict = new Map();
  for (const variable of parameters) {
    const data = new Float32Array((await variable.data()) as Float32Array);
    values.set(variable.name, { dtype: 'F32', shape: [...variable.shape], data });
  }

  await writeFolderAtomic(
    dir,
    (temporary) => {
      saveSafetensors(nodePath.join(temporary, PARAMETERS_FILE), values);
      saveSafetensors(nodePath.join(temporary, OPTIMIZER_FILE), optimizer.stateDict());
      writeJsonAtomic(nodePath.join(temporary, STATE_FILE), state);
    },
    { overwrite: true },
  );
}

/**
 * Restores parameters and optimizer state from a checkpoint written by `saveTrainingCheckpoint`
 * and returns its trainer state. Everything is checked before any parameter changes.
 *
 * @throws CheckpointError when the checkpoint is missing or unreadable
 * @throws MismatchError when its parameter names or shapes differ from `parameters`
 */
export function loadTrainingCheckpoint(dir: string, parameters: readonly tf.Variable[], optimizer: AdamW): TrainerState {
  if (!fs.existsSync(nodePath.join(dir, STATE_FILE))) {
    throw new CheckpointError(dir, 'no training checkpoint to resume from', 'Start without resume, or use the run folder of the interrupted run');
  }
  const state = readTrainerState(nodePath.join(dir, STATE_FILE));
  const saved = loadSafetensors(nodePath.join(dir, PARAMETERS_FILE));
  const optimizerState = loadSafetensors(nodePath.join(dir, OPTIMIZER_FILE));

  const file = nodePath.join(dir, PARAMETERS_FILE);
  for (const variable of parameters) {
    const tensor = saved.get(variable.name);
    if (!tensor) throw new MismatchError(`${file} has no tensor for parameter ${variable.name}; it was written for other parameters`);
    if (tensor.dtype !== 'F32' || !sameShape(tensor.shape, variable.shape)) {
      throw new MismatchError(
        `${file}: ${variable.name} is ${tensor.dtype} ${formatShape(tensor.shape)} but the parameter is F32 ${formatShape(variable.shape)}`,
      );
    }
  }

  optimizer.loadStateDict(optimizerState);
  for (const variable of parameters) {
    const tensor = saved.get(variable.name)!;
    tf.tidy(() => variable.assign(tf.tensor(tensor.data as Float32Array, tensor.shape, 'float32')));
  }
  return state;
}

function readTrainerState(path: string): TrainerState {
  let state: Partial<TrainerState>;
  try {
    state = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CheckpointError(path, `cannot read trainer state (${(error as Error).message})`);
  }

  for (const field of ['global_step', 'epoch', 'batches_in_epoch', 'evaluations_since_best', 'tokens'] as const) {
    const value = state[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new CheckpointError(path, `field "${field}" must be a non-negative integer, not ${JSON.stringify(value)}`);
    }
  }
  return {
    global_step: state.global_step!,
    epoch: state.epoch!,
    batches_in_epoch: state.batches_in_epoch!,
    best_metric: typeof state.best_metric === 'number' ? state.best_metric : null,
    best_step: typeof state.best_step === 'number' ? state.best_step : null,
    evaluations_since_best: state.evaluations_since_best!,
    tokens: state.tokens!,
  };
}
