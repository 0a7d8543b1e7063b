import type { TiesThreshold } from '../options';
import { ABS_MASK, bitsOf, magnitudeOfBits, type KthMagnitude } from './selection';

/**
 * Rule of the TIES trim. Magnitudes above the threshold are kept and magnitudes below it are
 * dropped. Of the entries exactly at the threshold, the first `keepTies` in flattened order are kept.
 */
export interface TrimRule {
  /** Magnitude bit pattern of the threshold (-1 keeps everything, 2^31 drops everything). */
  thresholdBits: number;
  /** Number of entries at the threshold that are kept; Infinity keeps them all. */
  keepTies: number;
}

/** Keeps every entry (trim rate 0). */
export const KEEP_ALL: TrimRule = { thresholdBits: -1, keepTies: Infinity };

/** Drops every entry (trim rate 1). */
export const DROP_ALL: TrimRule = { thresholdBits: 2 ** 31, keepTies: 0 };

/** Returns the number of entries a trim rate drops out of `total`: floor(total * rate), as the original does. */
export function trimCount(total: number, rate: number): number {
  return Math.floor(total * rate);
}

/**
 * Returns the trim rule that drops `k` of `total` entries.
 * @param select - computes the k-th smallest magnitude (only called when 0 < k < total)
 */
export function trimRule(k: number, total: number, mode: TiesThreshold, select: (k: number) => KthMagnitude): TrimRule {
  if (k <= 0) return KEEP_ALL;
  // The original keeps the entries equal to the maximum at rate 1; here rate 1 yields the base model.
  if (k >= total) return DROP_ALL;
  const kth = select(k);
  if (mode === 'inclusive') return { thresholdBits: kth.bits, keepTies: Infinity };
  return { thresholdBits: kth.bits, keepTies: kth.countEqual - (k - kth.countLess) };
}

/** Returns the threshold magnitude of a rule as a number, for logs. */
export function thresholdOf(rule: TrimRule): number {
  if (rule.thresholdBits < 0) return 0;
  if (rule.thresholdBits >= 2 ** 31) return Infinity;
  return magnitudeOfBits(rule.thresholdBits);
}

/** Applies one trim rule across consecutive tensors, counting the ties kept so far in flattened order. */
export class TrimCursor {
  private tiesKept = 0;
  kept = 0;

  constructor(readonly rule: TrimRule) {}

  /** Returns whether an entry with this magnitude bit pattern is kept, advancing the tie count. */
  keeps(magnitude: number): boolean {
    const threshold = this.rule.thresholdBits;
    if (magnitude > threshold) return true;
    if (magnitude < threshold || this.tiesKept >= this.rule.keepTies) return false;
    this.tiesKept++;
    return true;
  }

  /**
   * Writes `coefficient * delta` for the kept entries of `deltas` and 0 for the dropped ones into
   * `out` (float32 products, as the original scales the trimmed rows).
   */
  trimScaled(deltas: Float32Array, coefficient: number, out: Float32Array): void {
    const bits = bitsOf(deltas);
    const threshold = this.rule.thresholdBits;
    const scale = Math.fround(coefficient);
    let kept = 0;
    for (let i = 0; i < deltas.length; i++) {
      const magnitude = bits[i] & ABS_MASK;
      // `+(condition)` keeps the common case branch-free; entries at the threshold are rare
      let keep = +(magnitude > threshold);
      if (magnitude === threshold) keep = +this.keeps(magnitude);
      out[i] = Math.fround(deltas[i] * scale) * keep;
      kept += keep;
    }
    this.kept += kept;
  }
}
