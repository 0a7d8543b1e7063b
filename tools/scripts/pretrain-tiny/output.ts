/**
 * Where the run writes: the model folder (written whole through a temporary name by
 * `saveModelFolder` of `@modularevo/gptneo`) and the run folder.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, METRICS_FILE, MODEL_METADATA_FILES, RUN_CONFIG_FILE, TRAINING_CHECKPOINT_DIR } from '@modularevo/core-tensor';

/** The record of the run written next to the weights. */
export const TRAINING_RECORD_FILE = 'training.json';

const WEIGHTS_FILE = 'model.safetensors';

/**
 * Checks that replacing `dir` loses nothing: the new folder holds only the Hugging Face model
 * files (config, tokenizer, generation config, weights) and `training.json`, so any other file
 * in `dir` would disappear.
 *
 * @throws InvalidInputError listing the files that would be lost
 */
export function checkModelFolderReplaceable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new InvalidInputError(`--out ${dir} is a file: name a model folder`);

  const written = new Set<string>([...MODEL_METADATA_FILES, WEIGHTS_FILE, TRAINING_RECORD_FILE]);
  const lost = fs.readdirSync(dir).filter((name) => !written.has(name));
  if (lost.length > 0) {
    throw new InvalidInputError(
      `--out ${dir} contains ${lost.join(', ')}, which the new model folder would not keep: move them away or choose another --out`,
    );
  }
}

/**
 * Removes the files a previous run left in `runDir` (metrics, run config, checkpoint, record),
 * so that a fresh run's `metrics.jsonl` does not continue the old one. Other files stay.
 */
export function clearPreviousRun(runDir: string): string[] {
  const removed: string[] = [];
  for (const name of [METRICS_FILE, RUN_CONFIG_FILE, TRAINING_CHECKPOINT_DIR, TRAINING_RECORD_FILE]) {
    const target = path.join(runDir, name);
    if (fs.existsSync(target)) {
      fs.rmSync(target, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Returns the size of the model folder's weights in bytes. */
export function weightsFileBytes(dir: string): number {
  return fs.statSync(path.join(dir, WEIGHTS_FILE)).size;
}
