import * as fs from 'fs';
import * as nodePath from 'path';

import { CheckpointError } from '../errors';
import { getLogger } from '../log';
import { PyTorchFile } from './pytorch';
import type { CheckpointReader } from './reader';
import { SafetensorsFile } from './safetensors';
import { byteSize, type RawTensor, type TensorInfo } from './state-dict';

const log = getLogger('checkpoint');

/** The `weight_map` index of a sharded checkpoint, as `transformers` writes it. */
export interface ShardIndex {
  metadata?: { total_size?: number; [key: string]: unknown };
  /** Tensor name -> shard file name, relative to the index's folder. */
  weight_map: Record<string, string>;
}

/**
 * A sharded checkpoint (`model.safetensors.index.json` with `model-0000i-of-0000N.safetensors`
 * shards, or `pytorch_model.bin.index.json` with `.bin` shards) read as one checkpoint. Opening
 * opens every shard and checks that the index and the shards list the same tensors.
 */
export class ShardedCheckpoint implements CheckpointReader {
  private constructor(
    readonly path: string,
    private readonly shards: Map<string, CheckpointReader>,
    private readonly shardOf: Map<string, CheckpointReader>,
  ) {}

  /**
   * Opens the index at `indexPath` and all its shards. Throws a CheckpointError for an invalid
   * index, a missing shard (naming the index and the shard), a tensor the index assigns to a
   * shard that lacks it, and a shard holding tensors the index does not list.
   */
  static open(indexPath: string): ShardedCheckpoint {
    const index = readShardIndex(indexPath);
    const folder = nodePath.dirname(indexPath);

    // shard files in the order the index first names them
    const namesByShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(index.weight_map)) {
      const names = namesByShard.get(shard);
      if (names) names.push(name);
      else namesByShard.set(shard, [name]);
    }

    const shards = new Map<string, CheckpointReader>();
    try {
      for (const shard of namesByShard.keys()) shards.set(shard, openShard(indexPath, nodePath.join(folder, shard), shard));
      const shardOf = matchIndexToShards(indexPath, namesByShard, shards);
      checkTotalSize(indexPath, index, shardOf);
      return new ShardedCheckpoint(indexPath, shards, shardOf);
    } catch (error) {
      for (const reader of shards.values()) reader.close();
      throw error;
    }
  }

  /** Tensor names, shard by shard in index order, each shard in its own file order. */
  keys(): string[] {
    return [...this.shardOf.keys()];
  }

  has(name: string): boolean {
    return this.shardOf.has(name);
  }

  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }

  read(name: string): RawTensor {
    return this.shard(name).read(name);
  }

  /** Returns the metadata of the first shard (`save_pretrained` gives every shard `{ format: 'pt' }`). */
  metadata(): Record<string, string> {
    const first = this.shards.values().next().value as CheckpointReader | undefined;
    return first ? first.metadata() : {};
  }

  /** Returns the shard file names, in the order the index first names them. */
  shardFiles(): string[] {
    return [...this.shards.keys()];
  }

  close(): void {
    for (const reader of this.shards.values()) reader.close();
  }

  private shard(name: string): CheckpointReader {
    const reader = this.shardOf.get(name);
    if (!reader) throw new CheckpointError(this.path, `tensor "${name}" not found in weight_map`);
    return reader;
  }
}

/** Reads and validates a shard index; throws a CheckpointError naming the file and the problem. */
export function readShardIndex(indexPath: string): ShardIndex {
  let text: string;
  try {
    text = fs.readFileSync(indexPath, 'utf8');
  } catch (error) {
    throw new CheckpointError(indexPath, `cannot read shard index (${(error as Error).message})`);
  }
  let index: ShardIndex;
  try {
    index = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(indexPath, `shard index is not valid JSON (${(error as Error).message})`);
  }

  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new CheckpointError(indexPath, 'shard index has no "weight_map" object');
  }
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new CheckpointError(indexPath, `"weight_map" entry "${name}" is not a shard file name`);
    }
    if (nodePath.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new CheckpointError(indexPath, `shard "${shard}" lies outside the index's folder; shard names must be relative`);
    }
  }
  return index;
}

function openShard(indexPath: string, shardPath: string, shard: string): CheckpointReader {
  if (!fs.existsSync(shardPath)) {
    throw new CheckpointError(
      indexPath,
      `shard "${shard}" named in weight_map is missing (looked for ${shardPath})`,
      'Download or copy every shard next to the index',
    );
  }
  if (shard.endsWith('.safetensors')) return SafetensorsFile.open(shardPath);
  if (shard.endsWith('.bin')) return PyTorchFile.open(shardPath);
  throw new CheckpointError(indexPath, `shard "${shard}" is neither a .safetensors nor a .bin file`);
}

/** Returns the reader of every tensor, after checking that each shard contains exactly what the index lists. */
function matchIndexToShards(
  indexPath: string,
  namesByShard: Map<string, string[]>,
  shards: Map<string, CheckpointReader>,
): Map<string, CheckpointReader> {
  const shardOf = new Map<string, CheckpointReader>();
  for (const [shard, listed] of namesByShard) {
    const reader = shards.get(shard)!;
    const missing = listed.filter((name) => !reader.has(name));
    if (missing.length > 0) {
      throw new CheckpointError(
        reader.path,
        `${countTensors(missing.length)} that ${nodePath.basename(indexPath)} assigns to this shard ${missing.length === 1 ? 'is' : 'are'} not in it (first: "${missing[0]}")`,
        'The index and the shards come from different saves: download or copy them again together',
      );
    }
    const listedSet = new Set(listed);
    const unlisted = reader.keys().filter((name) => !listedSet.has(name));
    if (unlisted.length > 0) {
      throw new CheckpointError(
        reader.path,
        `shard contains ${countTensors(unlisted.length)} that ${nodePath.basename(indexPath)} does not list (first: "${unlisted[0]}")`,
        'The index and the shards come from different saves: download or copy them again together',
      );
    }
    for (const name of reader.keys()) shardOf.set(name, reader);
  }
  return shardOf;
}

/**
 * Warns when `metadata.total_size` of a safetensors index disagrees with the tensors. It is no
 * error because nothing reads it to locate data. `.bin` indexes are skipped: there
 * `transformers` counts a storage shared by tied names once.
 */
function checkTotalSize(indexPath: string, index: ShardIndex, shardOf: Map<string, CheckpointReader>): void {
  const declared = index.metadata?.total_size;
  if (typeof declared !== 'number') return;
  if (![...shardOf.values()].every((reader) => reader instanceof SafetensorsFile)) return;
  let actual = 0;
  for (const [name, reader] of shardOf) actual += byteSize(reader.info(name));
  if (actual !== declared) {
    log.warn(`${indexPath}: metadata.total_size is ${declared} but the listed tensors take ${actual} bytes`);
  }
}

function countTensors(count: number): string {
  return count === 1 ? '1 tensor' : `${count} tensors`;
}
