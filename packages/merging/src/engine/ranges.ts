import * as fs from 'fs';
import * as nodePath from 'path';

import {
  CheckpointError,
  DTYPE_SIZE,
  SafetensorsFile,
  ShardedCheckpoint,
  type CheckpointReader,
  type TypedArray,
} from '@modularevo/core-tensor';

/**
 * Reads element ranges of a tensor's raw bytes into a caller's buffer. The streaming merge reads
 * big tensors in chunks into reused buffers: allocating a fresh buffer per tensor costs page
 * faults that take several times longer than copying the bytes (about 4x for 500 MB in the
 * merging benchmark's machine).
 */
export interface RangeReader {
  /** Copies the raw bytes of elements `[start, start + count)` of `name` into `target`. */
  readRange(name: string, start: number, count: number, target: Uint8Array): void;
  close(): void;
}

/**
 * Returns a range reader over `reader`'s tensors: positional reads of the file for safetensors
 * (single or sharded), otherwise the whole tensor read once and served range by range.
 */
export function rangeReaderFor(reader: CheckpointReader): RangeReader {
  if (reader instanceof SafetensorsFile) return SafetensorsRanges.open(reader.path);
  if (reader instanceof ShardedCheckpoint && reader.path.endsWith('.safetensors.index.json')) {
    return new ShardedRanges(reader.path);
  }
  return new WholeTensorRanges(reader);
}

/** Byte offsets of one tensor's data in a safetensors file. */
interface DataRange {
  begin: number;
  elementSize: number;
}

/**
 * Positional reads from a safetensors file. The header is parsed again here only for the data
 * offsets; SafetensorsFile.open has already validated it.
 */
class SafetensorsRanges implements RangeReader {
  private constructor(
    private readonly path: string,
    private fd: number | undefined,
    private readonly ranges: Map<string, DataRange>,
  ) {}

  static open(path: string): SafetensorsRanges {
    const fd = fs.openSync(path, 'r');
    try {
      const prefix = Buffer.alloc(8);
      fs.readSync(fd, prefix, 0, 8, 0);
      const headerLength = Number(prefix.readBigUInt64LE(0));
      const header = Buffer.alloc(headerLength);
      fs.readSync(fd, header, 0, headerLength, 8);
      const entries = JSON.parse(header.toString('utf8')) as Record<string, { dtype: keyof typeof DTYPE_SIZE; data_offsets: number[] }>;
      const ranges = new Map<string, DataRange>();
      for (const [name, entry] of Object.entries(entries)) {
        if (name === '__metadata__') continue;
        ranges.set(name, { begin: 8 + headerLength + entry.data_offsets[0], elementSize: DTYPE_SIZE[entry.dtype] });
      }
      return new SafetensorsRanges(path, fd, ranges);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  readRange(name: string, start: number, count: number, target: Uint8Array): void {
    const range = this.ranges.get(name);
    if (this.fd === undefined || !range) throw new CheckpointError(this.path, `tensor "${name}" cannot be read (not found or file closed)`);
    const length = count * range.elementSize;
    const position = range.begin + start * range.elementSize;
    let done = 0;
    while (done < length) {
      const read = fs.readSync(this.fd, target, done, length - done, position + done);
      if (read === 0) throw new CheckpointError(this.path, `file ended while reading tensor "${name}" (truncated?)`);
      done += read;
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Positional reads from the shards of a sharded safetensors checkpoint. */
class ShardedRanges implements RangeReader {
  private readonly shardOf = new Map<string, string>();
  private readonly shards = new Map<string, SafetensorsRanges>();
  private readonly folder: string;

  constructor(indexPath: string) {
    this.folder = nodePath.dirname(indexPath);
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    for (const [name, shard] of Object.entries(index.weight_map)) this.shardOf.set(name, shard);
  }

  readRange(name: string, start: number, count: number, target: Uint8Array): void {
    const shard = this.shardOf.get(name);
    if (!shard) throw new CheckpointError(this.folder, `tensor "${name}" is in no shard`);
    let ranges = this.shards.get(shard);
    if (!ranges) {
      ranges = SafetensorsRanges.open(nodePath.join(this.folder, shard));
      this.shards.set(shard, ranges);
    }
    ranges.readRange(name, start, count, target);
  }

  close(): void {
    for (const ranges of this.shards.values()) ranges.close();
    this.shards.clear();
  }
}

/** Serves ranges of the last tensor read whole from any checkpoint reader (PyTorch `.bin`, state dicts). */
class WholeTensorRanges implements RangeReader {
  private name: string | undefined;
  private bytes: Uint8Array | undefined;

  constructor(private readonly reader: CheckpointReader) {}

  readRange(name: string, start: number, count: number, target: Uint8Array): void {
    if (name !== this.name) {
      const data: TypedArray = this.reader.read(name).data;
      this.bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this.name = name;
    }
    const elementSize = DTYPE_SIZE[this.reader.info(name).dtype];
    target.set(this.bytes!.subarray(start * elementSize, (start + count) * elementSize));
  }

  close(): void {
    this.bytes = undefined;
    this.name = undefined;
  }
}
