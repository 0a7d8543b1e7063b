import type { Merger, TensorBatch } from '../engine/merger';
import { addWeightedSum } from '../steps/combine';

/**
 * Task arithmetic: `base + scaling * sum_i coefficient_i * (ft_i - base)`. Each task vector is
 * scaled first, the scaled vectors are summed from the first model to the last, and the sum is
 * added to the base, all in float32. A negative coefficient subtracts a task (task negation).
 */
export class TaskArithmeticMerger implements Merger {
  readonly rowsAsDeltas = true;
  readonly wholeTensors = false;
  readonly preparePasses = 0;

  constructor(
    private readonly coefficients: readonly number[],
    private readonly scalingCoefficient: number,
  ) {}

  merge({ base, rows }: TensorBatch): Float32Array {
    addWeightedSum(base, rows, this.coefficients, this.scalingCoefficient, base);
    return base;
  }
}
