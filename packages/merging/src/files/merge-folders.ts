import * as fs from 'fs';
import * as nodePath from 'path';

import {
  CheckpointWriter,
  InvalidInputError,
  copyModelMetadata,
  getLogger,
  openCheckpoint,
  writeFolderAtomic,
  writeJsonAtomic,
  type CheckpointReader,
  type TensorSpec,
} from '@modularevo/core-tensor';

import { recipeOf } from '../recipe';
import { resolveMergeConfig, type MergeConfig, type ResolvedMergeConfig } from '../config';
import { FLOAT_DTYPES, tiedDuplicates } from '../engine/plan';
import { runMerge, type MergeSummary } from '../engine/run';
import { statisticsFromSources } from '../statistics';
import { openModuleMasks, type ModuleMaskFile } from './module-masks';

const log = getLogger('merging');

/** Name of the recipe file that records how a merged model folder was made (usable with `--recipe`). */
export const MERGE_CONFIG_NAME = 'merge_config.json';

/** A file-to-file merge: model folders (or weights files) in, a complete model folder out. */
export interface ModelFolderMerge {
  /** Base (pretrained) model folder or weights file. Its config and tokenizer files are copied. */
  base: string;
  /** Fine-tuned model folders or weights files. */
  models: string[];
  /** Output folder; must not exist or be empty. */
  out: string;
  /** Merge settings; masks and statistics may instead be given as paths below. */
  config: MergeConfig;
  /** ModularEvo: one module folder or mask file per model (undefined for a dense model). */
  maskPaths?: (string | undefined)[];
  /** Fisher or RegMean: one statistics safetensors file per model. */
  statisticsPaths?: string[];
  /** Largest output shard in bytes (default 5e9, as `save_pretrained`). */
  maxShardBytes?: number;
}

/** Result of a folder merge: the merge summary and the files written. */
export interface ModelFolderMergeResult extends MergeSummary {
  out: string;
  /** Files written into the output folder. */
  files: string[];
}

/**
 * Merges fine-tuned model folders into the base model and writes a complete model folder: the
 * merged weights as safetensors (sharded above `maxShardBytes`), the base's unmerged tensors,
 * the base's config and tokenizer files, and `merge_config.json`. Tensors are streamed one at a
 * time. The folder is built under a temporary name and renamed at the end, so an error leaves no
 * output folder behind (writeFolderAtomic removes the temporary one).
 * @throws InvalidInputError when `out` already contains files or a setting is invalid;
 *   CheckpointError for unreadable inputs; MismatchError for models that do not fit the base.
 */
export async function mergeModelFolders(request: ModelFolderMerge): Promise<ModelFolderMergeResult> {
  requireEmptyOutput(request.out);
  const opened: { close(): void }[] = [];
  try {
    // inputs
    const base = openCheckpoint(request.base);
    opened.push(base);
    const models = request.models.map((path) => {
      const reader = openCheckpoint(path);
      opened.push(reader);
      return reader;
    });
    const config = resolveMergeConfig(withFileInputs(request, opened), models.length);

    // output folder
    let summary: MergeSummary | undefined;
    let files: string[] = [];
    await writeFolderAtomic(request.out, async (folder) => {
      const writer = new CheckpointWriter(folder, outputSpecs(base, config), { maxShardBytes: request.maxShardBytes });
      try {
        summary = await runMerge(base, models, config, writer, { includeUnmerged: true });
      } catch (error) {
        writer.abort();
        throw error;
      }
      files = writer.commit();
      files.push(...copyBaseMetadata(request.base, folder));
      writeJsonAtomic(nodePath.join(folder, MERGE_CONFIG_NAME), recipeOf(request, config));
      files.push(MERGE_CONFIG_NAME);
    });
    log.info(`Wrote the merged model to ${request.out}`);
    return { ...summary!, out: request.out, files };
  } finally {
    for (const handle of opened) handle.close();
  }
}

function requireEmptyOutput(out: string): void {
  if (fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0)) {
    throw new InvalidInputError(`Output folder ${out} already exists and is not empty; choose another folder or remove it`);
  }
}

/** Adds the masks and statistics given as paths to the config, registering the open files for closing. */
function withFileInputs(request: ModelFolderMerge, opened: { close(): void }[]): MergeConfig {
  const config: MergeConfig = { ...request.config };
  if (request.maskPaths) {
    if (request.maskPaths.length !== request.models.length) {
      throw new InvalidInputError(`Got ${request.maskPaths.length} module masks for ${request.models.length} models: give one per model`);
    }
    config.masks = request.maskPaths.map((path) => {
      if (!path) return undefined;
      const masks: ModuleMaskFile = openModuleMasks(path);
      opened.push(masks);
      return masks.source;
    });
  }
  if (request.statisticsPaths) {
    const sources = request.statisticsPaths.map((path) => {
      const reader: CheckpointReader = openCheckpoint(path);
      opened.push(reader);
      return reader;
    });
    config.statistics = statisticsFromSources({ fisher: sources, gram: sources });
  }
  return config;
}

/** Returns the output tensors in base order: every base tensor but tied duplicates, float ones in the output dtype. */
function outputSpecs(base: CheckpointReader, config: ResolvedMergeConfig): TensorSpec[] {
  const tied = tiedDuplicates(base);
  return base
    .keys()
    .filter((name) => !tied.has(name))
    .map((name) => {
      const info = base.info(name);
      const dtype = config.dtype && FLOAT_DTYPES.has(info.dtype) ? config.dtype : info.dtype;
      return { name, dtype, shape: info.shape };
    });
}

function copyBaseMetadata(basePath: string, folder: string): string[] {
  if (!fs.statSync(basePath).isDirectory() || !fs.existsSync(nodePath.join(basePath, 'config.json'))) {
    log.warn(`${basePath} is not a model folder with config.json, so the output contains weights only (no config or tokenizer)`);
    return [];
  }
  return copyModelMetadata(basePath, folder);
}
