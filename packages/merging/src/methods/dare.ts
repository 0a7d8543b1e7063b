import { getLogger } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import type { Merger, TensorBatch } from '../engine/merger';
import { streamKey } from '../random';
import { dropMagnitude, dropRandom, rebuildFromBase, rescaleSurvivors } from '../steps/sparsify';

const log = getLogger('merging');

export type DareSettings = Pick<ResolvedMergeConfig, 'drop' | 'dropStrategy' | 'rescale' | 'seed' | 'apply'>;

/**
 * DARE: drop task vector entries at a rate (randomly, or the smallest magnitudes of each tensor),
 * rescale the survivors by `1 / (1 - rate)`, rebuild each model as `base + delta`, then hand the
 * result to another merge (task arithmetic, TIES or average). The random drop of a tensor
 * depends only on the seed, the model and the tensor name, so every pass gets the same drop.
 */
export class DareMerger implements Merger {
  readonly rowsAsDeltas = true;
  readonly wholeTensors: boolean;

  constructor(
    private readonly settings: DareSettings,
    private readonly inner: Merger,
  ) {
    // the magnitude drop ranks each tensor's entries, so it needs the whole tensor
    this.wholeTensors = inner.wholeTensors || settings.dropStrategy === 'magnitude';
    log.info(
      `DARE: dropping ${settings.drop.join(', ')} of each task vector (${settings.dropStrategy}` +
        `${settings.rescale ? ', survivors rescaled' : ''}), then ${settings.apply}`,
    );
  }

  get preparePasses(): number {
    return this.inner.preparePasses;
  }

  passName(pass: number): string {
    return this.inner.passName?.(pass) ?? 'prepare';
  }

  sampleFraction(pass: number): number {
    // the magnitude drop ranks whole tensors, so a part of one would be dropped differently
    if (this.settings.dropStrategy === 'magnitude') return 1;
    return this.inner.sampleFraction?.(pass) ?? 1;
  }

  prepare(pass: number, batch: TensorBatch): void {
    this.inner.prepare?.(pass, this.sparsify(batch));
  }

  finishPass(pass: number): void {
    this.inner.finishPass?.(pass);
  }

  merge(batch: TensorBatch): Float32Array {
    return this.inner.merge(this.sparsify(batch));
  }

  finish(): void {
    this.inner.finish?.();
  }

  /** Drops and rescales each row, then turns it into what the inner merge reads (values or task vectors). */
  private sparsify(batch: TensorBatch): TensorBatch {
    const { tensor, start, base, rows } = batch;
    rows.forEach((deltas, model) => {
      const rate = this.settings.drop[model];
      if (this.settings.dropStrategy === 'random') {
        dropRandom(deltas, rate, streamKey(this.settings.seed, model, tensor.name), start, this.settings.rescale);
      } else {
        dropMagnitude(deltas, rate);
        if (this.settings.rescale) rescaleSurvivors(deltas, rate);
      }
      rebuildFromBase(deltas, base, this.inner.rowsAsDeltas ? 'deltas' : 'values');
    });
    return batch;
  }
}
