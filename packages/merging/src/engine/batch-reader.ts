import { DTYPE_SIZE, f16BitsToNumber, type CheckpointReader, type DType } from '@modularevo/core-tensor';

import { squaredDistances, subtractBaseRows, sumOfSquares } from '../steps/combine';
import type { BufferPool } from './buffers';
import type { DistanceCheck } from './distance';
import type { TensorBatch } from './merger';
import type { MergedTensor } from './plan';
import { rangeReaderFor, type RangeReader } from './ranges';

/**
 * Reads chunks of the base and fine-tuned tensors as float32 into reused buffers. It turns the
 * rows into task vectors when the merger works on them, and feeds the distance check in the same pass.
 */
export class BatchReader {
  private readonly baseRanges: RangeReader;
  private readonly modelRanges: RangeReader[];
  private readonly squares: number[];

  constructor(
    private readonly base: CheckpointReader,
    private readonly models: readonly CheckpointReader[],
    private readonly pool: BufferPool,
  ) {
    this.baseRanges = rangeReaderFor(base);
    this.modelRanges = models.map((model) => rangeReaderFor(model));
    this.squares = models.map(() => 0);
  }

  /**
   * Loads entries `[start, start + length)` of `tensor`, the base into `baseTarget`, and the
   * rows as task vectors when `rowsAsDeltas` is set, else as fine-tuned values.
   */
  load(
    tensor: MergedTensor,
    start: number,
    length: number,
    baseTarget: Float32Array,
    check: DistanceCheck | undefined,
    rowsAsDeltas: boolean,
  ): TensorBatch {
    // raw reads, converted to float32
    this.readFloat32(this.baseRanges, this.base, tensor.name, start, baseTarget);
    const rows = this.modelRanges.map((ranges, index) => {
      const row = this.pool.float32(`row ${index}`, length);
      this.readFloat32(ranges, this.models[index], tensor.name, start, row);
      return row;
    });

    // task vectors, and the squared distances when measuring
    this.squares.fill(0);
    if (rowsAsDeltas) subtractBaseRows(baseTarget, rows, this.squares);
    if (check) {
      if (!rowsAsDeltas) squaredDistances(baseTarget, rows, this.squares);
      check.add(tensor.name, sumOfSquares(baseTarget), this.squares);
    }
    return { tensor, start, base: baseTarget, rows };
  }

  close(): void {
    this.baseRanges.close();
    for (const ranges of this.modelRanges) ranges.close();
  }

  private readFloat32(ranges: RangeReader, reader: CheckpointReader, name: string, start: number, target: Float32Array): void {
    const dtype = reader.info(name).dtype;
    if (dtype === 'F32') {
      ranges.readRange(name, start, target.length, new Uint8Array(target.buffer, target.byteOffset, target.byteLength));
      return;
    }
    const raw = this.pool.bytes('raw', target.length * DTYPE_SIZE[dtype]);
    ranges.readRange(name, start, target.length, raw);
    convertToFloat32(dtype, raw, target);
  }
}

/** Converts raw F16, BF16 or F64 elements to float32 into `target`. */
function convertToFloat32(dtype: DType, raw: Uint8Array, target: Float32Array): void {
  const length = target.length;
  if (dtype === 'BF16') {
    // bfloat16 is the high half of a float32
    const bits = new Uint16Array(raw.buffer, raw.byteOffset, length);
    const wide = new Uint32Array(target.buffer, target.byteOffset, length);
    for (let i = 0; i < length; i++) wide[i] = bits[i] << 16;
  } else if (dtype === 'F16') {
    const bits = new Uint16Array(raw.buffer, raw.byteOffset, length);
    for (let i = 0; i < length; i++) target[i] = f16BitsToNumber(bits[i]);
  } else if (dtype === 'F64') {
    target.set(new Float64Array(raw.buffer, raw.byteOffset, length));
  } else {
    throw new Error(`BatchReader cannot convert ${dtype} to float32; the plan only merges float tensors`);
  }
}
