import * as fs from 'fs';
import * as nodePath from 'path';

import { InvalidInputError } from '../errors';
import { getLogger } from '../log';
import { removeQuietly, writeFileAtomic } from './atomic';
import { SAFE_SHARD_PATTERN, SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, shardFileName } from './file-names';
import { SafetensorsWriter, type TensorSpec } from './safetensors';
import type { ShardIndex } from './sharded';
import { byteSize, type StateDict } from './state-dict';
import type { DType, TypedArray } from './dtype';

const log = getLogger('checkpoint');

/** The default of `save_pretrained(max_shard_size="5GB")`, which counts decimal gigabytes. */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/** Options of `saveCheckpoint` and `CheckpointWriter`. */
export interface SaveCheckpointOptions {
  /**
   * Largest shard, in bytes of tensor data (default 5e9, as `save_pretrained`). A tensor larger
   * than this gets a shard of its own.
   */
  maxShardBytes?: number;
  /** Safetensors `__metadata__` of every file written (default `{ format: 'pt' }`, which `from_pretrained` requires). */
  metadata?: Record<string, string>;
}

/** Assignment of tensors to files: one file name per shard, with the specs of its tensors. */
export interface ShardPlan {
  files: { name: string; specs: TensorSpec[] }[];
  /** Bytes of tensor data over all shards. */
  totalSize: number;
}

/**
 * Splits tensors into shards as `transformers` 4.36 `shard_checkpoint` does: in the given
 * order, a new shard starts when the next tensor would push the current one past
 * `maxShardBytes`, unless the current one is still empty. One shard is written as
 * `model.safetensors`, more as `model-0000i-of-0000N.safetensors`.
 */
export function planShards(specs: TensorSpec[], maxShardBytes: number = DEFAULT_MAX_SHARD_BYTES): ShardPlan {
  if (!(maxShardBytes > 0)) throw new InvalidInputError(`Invalid maxShardBytes ${maxShardBytes}: give a positive number of bytes`);

  const groups: TensorSpec[][] = [[]];
  let shardBytes = 0;
  let totalSize = 0;
  for (const spec of specs) {
    const size = byteSize(spec);
    if (shardBytes + size > maxShardBytes && groups[groups.length - 1].length > 0) {
      groups.push([]);
      shardBytes = 0;
    }
    groups[groups.length - 1].push(spec);
    shardBytes += size;
    totalSize += size;
  }

  const files =
    groups.length === 1
      ? [{ name: SAFE_WEIGHTS_NAME, specs: groups[0] }]
      : groups.map((group, i) => ({ name: shardFileName(i, groups.length), specs: group }));
  return { files, totalSize };
}

/**
 * Formats a shard index exactly as `save_pretrained` writes it: Python's
 * `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
 */
export function formatShardIndex(index: ShardIndex): string {
  return `${pythonJsonDumps(index, '')}\n`;
}

/**
 * Writes a checkpoint into a model folder tensor by tensor, so a merged model never has to be
 * held whole: `model.safetensors`, or shards plus `model.safetensors.index.json` when the
 * tensors exceed `maxShardBytes`. Every file is written under a temporary name. `commit`
 * renames the shards into place and writes the index last. It then removes the weight files
 * of an earlier save that would shadow or contradict the new ones (`model.safetensors`, the
 * index, stale shards). `abort` (or a failed write) leaves the folder as it was.
 */
export class CheckpointWriter {
  private readonly plan: ShardPlan;
  private readonly writers = new Map<string, SafetensorsWriter>();
  private readonly writerOf = new Map<string, SafetensorsWriter>();
  private readonly written = new Set<string>();
  private done = false;

  constructor(
    readonly dir: string,
    specs: TensorSpec[],
    options: SaveCheckpointOptions = {},
  ) {
    const seen = new Set<string>();
    for (const spec of specs) {
      if (seen.has(spec.name)) throw new InvalidInputError(`Tensor "${spec.name}" is listed twice`);
      seen.add(spec.name);
    }
    this.plan = planShards(specs, options.maxShardBytes);

    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new InvalidInputError(`Cannot create the output folder ${dir} (${(error as Error).message}); choose a writable folder`);
    }
    try {
      for (const file of this.plan.files) {
        const writer = new SafetensorsWriter(nodePath.join(dir, file.name), file.specs, options.metadata);
        this.writers.set(file.name, writer);
        for (const spec of file.specs) this.writerOf.set(spec.name, writer);
      }
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  /** File names this writer produces, index last when there is one. */
  files(): string[] {
    const names = this.plan.files.map((file) => file.name);
    return this.plan.files.length > 1 ? [...names, SAFE_WEIGHTS_INDEX_NAME] : names;
  }

  /** Writes the elements of `name`; dtype and element count must match its spec. */
  write(name: string, tensor: { dtype: DType; data: TypedArray }): void {
    const writer = this.writerOf.get(name);
    if (!writer) throw new InvalidInputError(`Tensor "${name}" was not declared when the checkpoint writer for ${this.dir} was created`);
    try {
      writer.write(name, tensor);
      this.written.add(name);
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  /** Checks that every tensor was written, then moves all files into place; returns their names. */
  commit(): string[] {
    if (this.done) throw new InvalidInputError(`The checkpoint writer for ${this.dir} is already closed`);

    // check every shard before renaming any, so a missing tensor leaves no partial set
    const missing = [...this.writerOf.keys()].filter((name) => !this.written.has(name));
    if (missing.length > 0) {
      this.abort();
      throw new InvalidInputError(
        `Cannot finish the checkpoint in ${this.dir}: ${missing.length === 1 ? '1 tensor was' : `${missing.length} tensors were`} never written (first: "${missing[0]}")`,
      );
    }
    this.done = true;
    for (const writer of this.writers.values()) writer.commit();

    const sharded = this.plan.files.length > 1;
    if (sharded) {
      removeQuietly(nodePath.join(this.dir, SAFE_WEIGHTS_NAME));
      const weightMap: Record<string, string> = {};
      for (const file of this.plan.files) for (const spec of file.specs) weightMap[spec.name] = file.name;
      const index: ShardIndex = { metadata: { total_size: this.plan.totalSize }, weight_map: weightMap };
      writeFileAtomic(nodePath.join(this.dir, SAFE_WEIGHTS_INDEX_NAME), formatShardIndex(index));
    } else {
      removeQuietly(nodePath.join(this.dir, SAFE_WEIGHTS_INDEX_NAME));
    }
    this.removeStaleShards();

    log.info(
      `saved ${this.writerOf.size} tensors (${(this.plan.totalSize / 1e6).toFixed(1)} MB) to ${this.dir} in ${this.plan.files.length} file(s)`,
    );
    return this.files();
  }

  /** Discards every temporary file. */
  abort(): void {
    this.done = true;
    for (const writer of this.writers.values()) writer.abort();
  }

  private removeStaleShards(): void {
    const current = new Set(this.plan.files.map((file) => file.name));
    for (const name of fs.readdirSync(this.dir)) {
      if (SAFE_SHARD_PATTERN.test(name) && !current.has(name)) removeQuietly(nodePath.join(this.dir, name));
    }
  }
}

/**
 * Saves `state` into the model folder `dir` (created when missing) as `save_pretrained` lays
 * it out: `model.safetensors` when it fits in `maxShardBytes`, otherwise
 * `model-0000i-of-0000N.safetensors` shards plus `model.safetensors.index.json`. Other files
 * in `dir` (config, tokenizer) are kept. Returns the file names written. Throws an
 * InvalidInputError for an invalid `maxShardBytes`; nothing is left half-written on failure.
 */
export function saveCheckpoint(dir: string, state: StateDict, options: SaveCheckpointOptions = {}): string[] {
  const specs = [...state].map(([name, tensor]) => ({ name, dtype: tensor.dtype, shape: tensor.shape }));
  const writer = new CheckpointWriter(dir, specs, options);
  for (const [name, tensor] of state) writer.write(name, tensor);
  return writer.commit();
}

/**
 * Serialises plain JSON values as Python's `json.dumps(value, indent=2, sort_keys=True)`.
 * JavaScript objects cannot be used for the key order, because they list integer-like keys
 * first, so keys are sorted here. Python sorts by code point and JavaScript by UTF-16 code
 * unit, which agree outside the astral planes.
 */
function pythonJsonDumps(value: unknown, indent: string): string {
  if (value === null || typeof value !== 'object') return pythonJsonScalar(value);

  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => inner + pythonJsonDumps(item, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  const items = keys.map(
    (key) => `${inner}${pythonJsonScalar(key)}: ${pythonJsonDumps((value as Record<string, unknown>)[key], inner)}`,
  );
  return `{\n${items.join(',\n')}\n${indent}}`;
}

/** Formats a string, number, boolean or null; strings get Python's default `ensure_ascii` escapes. */
function pythonJsonScalar(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (typeof value === 'number' && !Number.isInteger(value)) {
    throw new InvalidInputError(`Shard index values must be integers or strings, got ${value}`);
  }
  return JSON.stringify(value);
}
