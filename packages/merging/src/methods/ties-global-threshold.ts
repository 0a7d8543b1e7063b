import { getLogger } from '@modularevo/core-tensor';

import type { TiesThreshold } from '../options';
import { sumRows, type SignCounts } from '../steps/consensus';
import { ABS_MASK, LOW_BITS, MagnitudeHistogram, RangeRefinement, bitsOf, magnitudeBits } from '../steps/selection';
import { TrimCursor, trimRule, type TrimRule } from '../steps/trim';
import { PendingEntries } from './pending-entries';
import { refineAndCountSignsOfTwo } from './ties-two-models';

const log = getLogger('merging');

/**
 * Memory limits and sampling margin of the global threshold search; tests lower them to exercise
 * the fallbacks on small models.
 */
export const THRESHOLD_LIMITS = {
  /**
   * Entries waiting for the exact thresholds (about 130 MB for two models), beyond which they are
   * dropped and a separate pass counts their signs.
   */
  maxPendingEntries: 1 << 23,
  /** Occurring buckets inside one model's range (16 KiB each), beyond which a sampled range is abandoned. */
  maxOccupiedBuckets: 4096,
  /**
   * Standard deviations of the sampled quantile that a range covers on each side. The sample is
   * spread over every chunk of every tensor, and exact histogram passes take over when the k-th
   * magnitude still falls outside.
   */
  marginSigmas: 8,
};

/** Outcome of the second pass. */
export type RefineOutcome =
  /** Exact trim rules, and the elected signs of every entry counted. */
  | { kind: 'resolved'; rules: TrimRule[] }
  /** Exact trim rules, but too many waiting entries to keep: their signs need a pass of their own. */
  | { kind: 'rules-only'; rules: TrimRule[] }
  /** The sampled range missed some model's k-th magnitude: an exact histogram is needed. */
  | { kind: 'missed' };

/**
 * Global TIES trim threshold of each model, found in streaming passes without keeping the task
 * vectors in memory. The first pass histograms the high bits of every magnitude, or of a sample
 * of them for large models. From it each model gets a range of buckets that contains the k-th
 * smallest magnitude (from a sample, very likely contains it). The second pass counts the
 * magnitudes below the range and the low bits inside it, which gives the exact k-th magnitude,
 * and counts the elected signs of every entry whose trim is already decided. Entries where some
 * model lies inside its range wait in a list until the exact thresholds are known.
 */
export class GlobalTrimThreshold {
  private histograms: MagnitudeHistogram[] = [];
  private refinements: RangeRefinement[] = [];
  private pending: PendingEntries;
  private overflow = false;
  private abandoned = false;
  private sampled = false;

  constructor(
    private readonly k: number,
    private readonly total: number,
    private readonly mode: TiesThreshold,
    private readonly coefficients: readonly number[],
  ) {
    this.pending = new PendingEntries(coefficients.length);
    this.restart();
  }

  /** Forgets every count, to start again with an exact (unsampled) histogram pass. */
  restart(): void {
    this.histograms = this.coefficients.map(() => new MagnitudeHistogram());
    this.refinements = [];
    this.pending = new PendingEntries(this.coefficients.length);
    this.overflow = false;
    this.abandoned = false;
    this.sampled = false;
  }

  /** First pass: counts the magnitudes of one chunk (or chunk sample) of task vectors, one row per model. */
  addToHistograms(rows: readonly Float32Array[]): void {
    rows.forEach((row, model) => this.histograms[model].add(row));
  }

  /** Ends the first pass: picks each model's bucket range, a single bucket when every entry was counted. */
  locateRanges(): void {
    this.sampled = this.histograms.some((histogram) => histogram.total < this.total);
    this.refinements = this.histograms.map((histogram, model) => {
      const sampled = histogram.total;
      if (sampled >= this.total) {
        const bucket = histogram.bucketAt(this.k);
        return new RangeRefinement(bucket, bucket);
      }

      // ranks of the sample around the quantile k / total, with a margin for sampling error
      const quantile = this.k / this.total;
      const margin = THRESHOLD_LIMITS.marginSigmas * Math.sqrt((quantile * (1 - quantile)) / sampled) + 1 / sampled;
      const rank = (value: number) => Math.min(sampled, Math.max(1, value));
      const low = histogram.bucketAt(rank(Math.floor((quantile - margin) * sampled)));
      const high = histogram.bucketAt(rank(Math.ceil((quantile + margin) * sampled)));
      log.debug(`TIES model ${model + 1}: threshold expected in buckets ${low} to ${high} from ${sampled} sampled entries`);
      return new RangeRefinement(low, high);
    });
  }

  /**
   * Second pass over one chunk whose first entry has flattened index `first`: counts the
   * magnitudes against each model's range and adds the elected signs of the decided entries to
   * `signs`. Overwrites `rows` with the trimmed, scaled values, except for two models, whose fused
   * kernel leaves them as they are. `ambiguous` and `sums` are scratch arrays of the chunk length.
   */
  refineAndCountSigns(rows: Float32Array[], first: number, ambiguous: Uint8Array, sums: Float32Array, signs: SignCounts): void {
    this.checkLimits();
    if (this.abandoned) return;
    const pending = this.overflow ? undefined : this.pending;
    if (rows.length === 2) {
      refineAndCountSignsOfTwo(rows[0], rows[1], this.refinements, this.coefficients, first, pending, signs);
      return;
    }

    // entries inside a range wait for the exact threshold
    ambiguous.fill(0);
    let waiting = false;
    for (let model = 0; model < rows.length; model++) {
      waiting = markRangeEntries(rows[model], this.refinements[model], ambiguous) || waiting;
    }
    if (waiting && pending) {
      for (let i = 0; i < ambiguous.length; i++) if (ambiguous[i] !== 0) pending.push(first + i, rows, i);
    }

    // decided entries: kept above the range, dropped below it
    for (let model = 0; model < rows.length; model++) {
      scaleAboveRange(rows[model], this.refinements[model].high, this.coefficients[model]);
    }
    sumRows(rows, sums);
    countDecidedSigns(sums, ambiguous, signs);
  }

  /**
   * Ends the second pass. When every k-th magnitude was inside its range, returns the exact trim
   * rules and, if the waiting entries were all kept, adds their elected signs to `signs`, deciding
   * their ties in flattened order.
   */
  resolve(signs: SignCounts): RefineOutcome {
    const kth = this.refinements.map((refinement) => refinement.result(this.k));
    if (this.abandoned || kth.some((result) => result === undefined)) {
      // an exact range contains the k-th magnitude by construction
      if (!this.sampled) throw new Error('TIES threshold search: an exact bucket range missed its rank');
      return { kind: 'missed' };
    }
    const rules = kth.map((result) => trimRule(this.k, this.total, this.mode, () => result!));
    if (this.overflow) return { kind: 'rules-only', rules };

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
    return { kind: 'resolved', rules };
  }

  /** Stops keeping waiting entries, or abandons a sampled range, once they outgrow their limits. */
  private checkLimits(): void {
    const { maxPendingEntries, maxOccupiedBuckets } = THRESHOLD_LIMITS;
    if (!this.overflow && this.pending.length > maxPendingEntries) {
      this.overflow = true;
      this.pending = new PendingEntries(this.coefficients.length);
      log.info(`TIES: more than ${maxPendingEntries} entries near the thresholds, so their signs get a pass of their own`);
    }
    if (this.sampled && !this.abandoned && this.refinements.some((refinement) => refinement.occupiedBuckets > maxOccupiedBuckets)) {
      this.abandoned = true;
      log.info('TIES: the sampled threshold range is too wide, so an exact histogram pass follows');
    }
  }
}

/** Counts the entries of `row` below the refinement's range and the low bits of those inside it, marking the latter. */
function markRangeEntries(row: Float32Array, refinement: RangeRefinement, ambiguous: Uint8Array): boolean {
  const bits = bitsOf(row);
  const { low, high } = refinement;
  let found = false;
  let below = 0;
  for (let i = 0; i < bits.length; i++) {
    const magnitude = bits[i] & ABS_MASK;
    const bucket = magnitude >>> LOW_BITS;
    below += +(bucket < low);
    if (bucket >= low && bucket <= high) {
      refinement.addBits(magnitude);
      ambiguous[i] = 1;
      found = true;
    }
  }
  refinement.below += below;
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

/** Replaces each entry by `coefficient * entry` (float32) when its magnitude lies above bucket `high`, else by 0. */
function scaleAboveRange(row: Float32Array, high: number, coefficient: number): void {
  const bits = bitsOf(row);
  const scale = Math.fround(coefficient);
  for (let i = 0; i < row.length; i++) {
    row[i] = row[i] * scale * +((bits[i] & ABS_MASK) >>> LOW_BITS > high);
  }
}
