import { InvalidInputError, MismatchError, getLogger, toFloat32, type CheckpointReader } from '@modularevo/core-tensor';

import { firstNonFinite } from '../steps/combine';

const log = getLogger('merging');

/**
 * Accumulates `||ft - base||` per model and `||base||` over the merged tensors, to tell whether
 * each model is a fine-tune of the base, and notices NaN or infinite inputs on the way (a
 * non-finite entry makes its squared sum non-finite).
 */
export class DistanceCheck {
  private baseSquares = 0;
  private readonly deltaSquares: number[];

  constructor(
    private readonly base: CheckpointReader,
    private readonly models: readonly CheckpointReader[],
  ) {
    this.deltaSquares = models.map(() => 0);
  }

  /** Adds one tensor's sums; throws an InvalidInputError naming the file and tensor on NaN or Inf. */
  add(name: string, baseSquares: number, deltaSquares: readonly number[]): void {
    if (!Number.isFinite(baseSquares) || deltaSquares.some((sum) => !Number.isFinite(sum))) {
      this.reportNonFinite(name);
    }
    this.baseSquares += baseSquares;
    deltaSquares.forEach((sum, index) => (this.deltaSquares[index] += sum));
  }

  /** Returns `||ft - base|| / ||base||` per model. */
  distances(): number[] {
    const baseNorm = Math.sqrt(this.baseSquares);
    return this.deltaSquares.map((sum) => {
      if (baseNorm > 0) return Math.sqrt(sum) / baseNorm;
      return sum > 0 ? Infinity : 0;
    });
  }

  /**
   * Logs each model's distance, warns above `warnAt` and throws a MismatchError above `failAt`
   * unless `force` is set.
   */
  verify(warnAt: number, failAt: number, force: boolean): number[] {
    const distances = this.distances();
    distances.forEach((distance, index) => {
      const model = this.models[index].path;
      const text = `relative distance ||ft - base|| / ||base|| = ${distance.toPrecision(4)}`;
      if (distance > failAt && !force) {
        throw new MismatchError(
          `${model} is not a fine-tune of ${this.base.path}: ${text}, above the limit ${failAt}; ` +
            'check the base model, or merge anyway with force (--force)',
        );
      }
      if (distance > warnAt) log.warn(`Model ${index + 1} (${model}) is far from the base: ${text}`);
      else log.info(`Model ${index + 1} (${model}): ${text}`);
    });
    return distances;
  }

  private reportNonFinite(name: string): never {
    for (const reader of [this.base, ...this.models]) {
      const tensor = reader.read(name);
      const index = firstNonFinite(toFloat32(tensor.dtype, tensor.data));
      if (index >= 0) {
        throw new InvalidInputError(
          `${reader.path}: parameter "${name}" contains NaN or infinite values (first at flat index ${index}); ` +
            'repair or re-export this checkpoint before merging',
        );
      }
    }
    throw new InvalidInputError(`Parameter "${name}": a task vector overflows float32 (inputs differ by more than 3.4e38)`);
  }
}
