import { InvalidInputError, MismatchError, formatShape, getLogger, toFloat32, type RawTensor } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import type { Merger, TensorBatch } from '../engine/merger';
import { meanRows } from '../steps/combine';
import { addMatMul, choleskyInPlace, choleskySolveInPlace } from '../steps/linear-algebra';
import { asTensorSource, type TensorSource } from '../statistics';
import type { MergerContext } from './registry';

const log = getLogger('merging');

export type RegMeanSettings = Pick<ResolvedMergeConfig, 'reduceNonDiagonalRatio' | 'statistics'>;

/**
 * RegMean: for each linear layer weight `W_i` (`[out, in]`) with input Gram matrix `G_i`
 * (`[in, in]`), the merged weight is `((sum_i G_i)^-1 sum_i G_i W_i^T)^T`, the least-squares
 * fit to every model's outputs on its own inputs. Off-diagonal Gram entries are first multiplied
 * by `reduceNonDiagonalRatio` (alpha in the RegMean paper), which keeps the sum well conditioned.
 * Parameters without a Gram matrix (biases, norms, embeddings) are averaged. The solve runs in
 * float64 through a Cholesky factorization.
 */
export class RegMeanMerger implements Merger {
  readonly rowsAsDeltas = false;
  readonly wholeTensors = true;
  readonly preparePasses = 0;
  private solved = 0;
  private averaged = 0;

  private constructor(
    private readonly sources: TensorSource[],
    private readonly ratio: number,
  ) {}

  /** Gets each model's Gram matrices from the provider. */
  static async create(settings: RegMeanSettings, context: MergerContext): Promise<RegMeanMerger> {
    const names = context.plan.merged.map((tensor) => tensor.name);
    const sources: TensorSource[] = [];
    for (const [index, reader] of context.models.entries()) {
      const source = await settings.statistics.gram!({ index, reader }, names);
      sources.push(asTensorSource(source, `Gram statistics of model ${index + 1}`));
    }
    return new RegMeanMerger(sources, settings.reduceNonDiagonalRatio);
  }

  merge({ tensor, rows }: TensorBatch): Float32Array {
    const layer = tensor.name.endsWith('.weight') ? tensor.name.slice(0, -'.weight'.length) : undefined;
    const found = layer === undefined ? [] : this.sources.map((source) => source.has(layer));
    if (layer === undefined || !found.some(Boolean)) {
      this.averaged++;
      meanRows(rows, rows[0]);
      return rows[0];
    }
    const missing = found.indexOf(false);
    if (missing >= 0) {
      throw new MismatchError(`${this.sources[missing].path} has no Gram matrix for layer "${layer}" but other models do`);
    }
    if (tensor.shape.length !== 2) {
      throw new MismatchError(`Gram matrix given for "${layer}" but its weight has shape ${formatShape(tensor.shape)}, not [out, in]`);
    }
    this.solved++;
    return this.solveLayer(layer, tensor.shape[0], tensor.shape[1], rows);
  }

  finish(): void {
    log.info(`RegMean solved ${this.solved} linear layers and averaged ${this.averaged} other parameters`);
  }

  private solveLayer(layer: string, outFeatures: number, inFeatures: number, weights: Float32Array[]): Float32Array {
    // sums of the reduced Gram matrices and of G_i W_i^T
    const gramSum = new Float64Array(inFeatures * inFeatures);
    const rightSide = new Float64Array(inFeatures * outFeatures); // [in, out]
    weights.forEach((weight, model) => {
      const gram = this.readGram(model, layer, inFeatures);
      for (let i = 0; i < gram.length; i++) gramSum[i] += gram[i];
      addMatMul(gram, transpose(weight, outFeatures, inFeatures), inFeatures, outFeatures, rightSide);
    });

    // solve (sum G) X = sum G W^T, X: [in, out]
    if (!choleskyInPlace(gramSum, inFeatures)) {
      throw new InvalidInputError(
        `The summed Gram matrix of layer "${layer}" is not positive definite (an input feature is always 0?); ` +
          'lower the off-diagonal ratio or compute the statistics on more data',
      );
    }
    choleskySolveInPlace(gramSum, inFeatures, rightSide, outFeatures);

    // merged weight = X^T: [out, in]
    const merged = new Float32Array(outFeatures * inFeatures);
    for (let a = 0; a < inFeatures; a++) {
      for (let o = 0; o < outFeatures; o++) merged[o * inFeatures + a] = rightSide[a * outFeatures + o];
    }
    return merged;
  }

  /** Reads model `model`'s Gram matrix of `layer` as float64 with its off-diagonal entries reduced. */
  private readGram(model: number, layer: string, inFeatures: number): Float64Array {
    const source = this.sources[model];
    const tensor: RawTensor = source.read(layer);
    if (tensor.shape.length !== 2 || tensor.shape[0] !== inFeatures || tensor.shape[1] !== inFeatures) {
      throw new MismatchError(
        `Gram matrix of "${layer}" in ${source.path} has shape ${formatShape(tensor.shape)}; the layer needs [${inFeatures}, ${inFeatures}]`,
      );
    }
    const gram = tensor.dtype === 'F64' ? Float64Array.from(tensor.data as Float64Array) : Float64Array.from(toFloat32(tensor.dtype, tensor.data));
    for (let i = 0; i < gram.length; i++) {
      if (!Number.isFinite(gram[i])) throw new InvalidInputError(`${source.path}: Gram matrix of "${layer}" contains NaN or Inf (flat index ${i})`);
    }
    for (let row = 0; row < inFeatures; row++) {
      for (let column = 0; column < inFeatures; column++) {
        if (row !== column) gram[row * inFeatures + column] *= this.ratio;
      }
    }
    return gram;
  }
}

/** Returns the float64 transpose of a row-major `[rows, columns]` float32 matrix. */
function transpose(values: Float32Array, rows: number, columns: number): Float64Array {
  const out = new Float64Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c];
  }
  return out;
}
