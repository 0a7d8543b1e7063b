import { getLogger } from '@modularevo/core-tensor';

import type { TiesThreshold } from '../options';
import { sumRows, type SignCounts } from '../steps/consensus';
import { ABS_MASK, BucketRefinement, LOW_BITS, MagnitudeHistogram, bitsOf, magnitudeBits } from '../steps/selection';
import { TrimCursor, trimRule, type TrimRule } from '../steps/trim';
import { PendingEntries } from './pending-entries';
import { refineAndCountSignsOfTwo } from './ties-two-models';

const log = getLogger('merging');

/**
 * Global TIES trim threshold of each model, found in two streaming passes without keeping the
 * task vectors in memory. The first pass histograms the high bits of every magnitude. The second
 * counts the low bits inside the bucket that contains the k-th smallest magnitude, and counts the
 * elected signs of every entry whose trim is already decided. Entries where some model lies inside
 * its threshold bucket wait in a list until the exact thresholds are known.
 */
export class GlobalTrimThreshold {
  private readonly histograms: MagnitudeHistogram[];
  private refinements: BucketRefinement[] = [];
  private readonly pending: PendingEntries;

  constructor(
    private readonly k: number,
    private readonly total: number,
    private readonly mode: TiesThreshold,
    private readonly coefficients: readonly number[],
  ) {
    this.histograms = coefficients.map(() => new MagnitudeHistogram());
    this.pending = new PendingEntries(coefficients.length);
  }

  /** First pass: counts the magnitudes of one chunk of task vectors (one row per model). */
  addToHistograms(rows: readonly Float32Array[]): void {
    rows.forEach((row, model) => this.histograms[model].add(row));
  }

  /** Ends the first pass: locates each model's threshold bucket. */
  locateBuckets(): void {
    this.refinements = this.histograms.map((histogram) => new BucketRefinement(histogram.locate(this.k), this.k));
  }

  /**
   * Second pass over one chunk whose first entry has flattened index `first`: refines the
   * thresholds and adds the elected signs of the decided entries to `signs`. Overwrites `rows`
   * with the trimmed, scaled values, except for two models, whose fused kernel leaves them as they
   * are. `ambiguous` and `sums` are scratch arrays of the chunk length.
   */
  refineAndCountSigns(rows: Float32Array[], first: number, ambiguous: Uint8Array, sums: Float32Array, signs: SignCounts): void {
    if (rows.length === 2) {
      refineAndCountSignsOfTwo(rows[0], rows[1], this.refinements, this.coefficients, first, this.pending, signs);
      return;
    }

    // entries inside a threshold bucket wait for the exact threshold
    ambiguous.fill(0);
    let waiting = false;
    for (let model = 0; model < rows.length; model++) {
      waiting = markBucketEntries(rows[model], this.refinements[model], ambiguous) || waiting;
    }
    if (waiting) {
      for (let i = 0; i < ambiguous.length; i++) if (ambiguous[i] !== 0) this.pending.push(first + i, rows, i);
    }

    // decided entries: kept above the bucket, dropped below it
    for (let model = 0; model < rows.length; model++) {
      scaleAboveBucket(rows[model], this.refinements[model].location.bucket, this.coefficients[model]);
    }
    sumRows(rows, sums);
    countDecidedSigns(sums, ambiguous, signs);
  }

  /**
   * Ends the second pass: returns each model's exact trim rule and adds the elected signs of the
   * waiting entries to `signs`, deciding their ties in flattened order.
   */
  resolve(signs: SignCounts): TrimRule[] {
    const rules = this.refinements.map((refinement) => trimRule(this.k, this.total, this.mode, () => refinement.result()));
    const cursors = rules.map((rule) => new TrimCursor(rule));
    const scales = this.coefficients.map((coefficient) => Math.fround(coefficient));
    this.pending.forEach((values) => {
      let sum = 0;
      for (let model = 0; model < values.length; model++) {
        const delta = values[model];
        const scaled = cursors[model].keeps(magnitudeBits(delta)) ? Math.fround(delta * scales[model]) : 0;
        sum = model === 0 ? scaled : Math.fround(sum + scaled);
      }
      signs.positive += +(sum > 0);
      signs.negative += +(sum < 0);
    });
    log.debug(`TIES resolved ${this.pending.length} entries near the trim thresholds`);
    return rules;
  }
}

/** Marks the entries of `row` inside the refinement's bucket and counts their low bits; returns whether any was. */
function markBucketEntries(row: Float32Array, refinement: BucketRefinement, ambiguous: Uint8Array): boolean {
  const bits = bitsOf(row);
  const bucket = refinement.location.bucket;
  let found = false;
  for (let i = 0; i < bits.length; i++) {
    const magnitude = bits[i] & ABS_MASK;
    if (magnitude >>> LOW_BITS === bucket) {
      refinement.addBits(magnitude);
      ambiguous[i] = 1;
      found = true;
    }
  }
  return found;
}

/** Adds the signs of `sums` to `signs`, skipping the entries marked in `ambiguous` (branch-free). */
function countDecidedSigns(sums: Float32Array, ambiguous: Uint8Array, signs: SignCounts): void {
  let positive = 0;
  let negative = 0;
  for (let i = 0; i < sums.length; i++) {
    const decided = 1 - ambiguous[i];
    positive += +(sums[i] > 0) * decided;
    negative += +(sums[i] < 0) * decided;
  }
  signs.positive += positive;
  signs.negative += negative;
}

/** Replaces each entry by `coefficient * entry` (float32) when its magnitude lies above `bucket`, else by 0. */
function scaleAboveBucket(row: Float32Array, bucket: number, coefficient: number): void {
  const bits = bitsOf(row);
  const scale = Math.fround(coefficient);
  for (let i = 0; i < row.length; i++) {
    row[i] = row[i] * scale * +((bits[i] & ABS_MASK) >>> LOW_BITS > bucket);
  }
}
