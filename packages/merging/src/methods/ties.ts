import { getLogger } from '@modularevo/core-tensor';

import type { ResolvedMergeConfig } from '../config';
import { BufferPool } from '../engine/buffers';
import type { Merger, TensorBatch } from '../engine/merger';
import type { MergePlan } from '../engine/plan';
import { addScaled } from '../steps/combine';
import { countSigns, disjointMerge, majoritySign, sumRows, type SignCounts } from '../steps/consensus';
import { kthMagnitude } from '../steps/selection';
import { DROP_ALL, KEEP_ALL, TrimCursor, thresholdOf, trimCount, trimRule, type TrimRule } from '../steps/trim';
import { GlobalTrimThreshold } from './ties-global-threshold';
import { mergeTwo } from './ties-two-models';

const log = getLogger('merging');

export type TiesSettings = Pick<
  ResolvedMergeConfig,
  'coefficients' | 'scalingCoefficient' | 'trim' | 'trimScope' | 'tiesThreshold'
>;

/**
 * Way the trim thresholds are found.
 * - `histogram`: global scope. Pass 1 histograms the magnitudes of each model, and pass 2 finds
 *   the exact k-th magnitude inside the histogram bucket and counts the elected signs.
 * - `fixed`: the rule is known up front (trim rate 0 keeps all, 1 drops all), so one pass counts signs.
 * - `tensor`: per-tensor scope. One pass finds each tensor's threshold and counts signs.
 */
type ThresholdMode = 'histogram' | 'fixed' | 'tensor';

/**
 * TIES merging. Each task vector is trimmed to its largest-magnitude entries and scaled by its
 * coefficient. A sign is elected per entry from the sum over models, the entries that agree with
 * it are averaged, and `scalingCoefficient` times the result is added to the base.
 *
 * As in the original, the elected sign of an entry whose sum is exactly zero is the majority sign
 * over all merged entries. Computing it (and a global trim threshold) takes prepare passes over
 * the checkpoint, so no task vector has to be in memory whole.
 */
export class TiesMerger implements Merger {
  readonly rowsAsDeltas = true;
  readonly wholeTensors: boolean;
  readonly preparePasses: number;

  private readonly mode: ThresholdMode;
  private readonly k: number;
  private readonly threshold: GlobalTrimThreshold;
  private globalRules: TrimRule[];
  private readonly tensorRules = new Map<string, TrimRule[]>();
  private readonly signs: SignCounts = { positive: 0, negative: 0 };
  private majority = 0;
  private mergeCursors: TrimCursor[] | undefined;
  private readonly keptPerModel: number[];
  private readonly pool = new BufferPool();

  constructor(
    private readonly settings: TiesSettings,
    private readonly plan: MergePlan,
  ) {
    const models = settings.coefficients.length;
    this.k = trimCount(plan.totalEntries, settings.trim);
    this.threshold = new GlobalTrimThreshold(this.k, plan.totalEntries, settings.tiesThreshold, settings.coefficients);
    this.keptPerModel = new Array<number>(models).fill(0);

    if (settings.trim > 0 && settings.trimScope === 'tensor') {
      this.mode = 'tensor';
      this.globalRules = [];
    } else if (this.k <= 0 || this.k >= plan.totalEntries) {
      this.mode = 'fixed';
      this.globalRules = new Array<TrimRule>(models).fill(this.k <= 0 ? KEEP_ALL : DROP_ALL);
    } else {
      this.mode = 'histogram';
      this.globalRules = [];
    }
    this.preparePasses = this.mode === 'histogram' ? 2 : 1;
    this.wholeTensors = this.mode === 'tensor';

    if (settings.trim > 0) {
      const scope = settings.trimScope === 'global' ? `k = ${this.k} of ${plan.totalEntries} entries per model` : 'per tensor';
      log.info(`TIES trim: dropping the smallest ${settings.trim} of each task vector (${scope}, ${settings.tiesThreshold})`);
    }
  }

  passName(pass: number): string {
    if (this.mode === 'histogram') return pass === 0 ? 'magnitude histogram' : 'trim threshold and sign election';
    return this.mode === 'tensor' ? 'trim thresholds and sign election' : 'sign election';
  }

  prepare(pass: number, batch: TensorBatch): void {
    if (this.mode === 'histogram' && pass === 0) {
      this.threshold.addToHistograms(batch.rows);
    } else if (this.mode === 'histogram') {
      const length = batch.base.length;
      const first = batch.tensor.offset + batch.start;
      const ambiguous = this.pool.bytes('ambiguous', length);
      this.threshold.refineAndCountSigns(batch.rows, first, ambiguous, this.pool.float32('sums', length), this.signs);
    } else {
      const cursors = this.mode === 'tensor' ? this.tensorCursors(batch, true) : this.globalRules.map((rule) => new TrimCursor(rule));
      this.trimAndScale(batch, cursors);
      const sums = this.pool.float32('sums', batch.base.length);
      sumRows(batch.rows, sums);
      countSigns(sums, this.signs);
    }
  }

  finishPass(pass: number): void {
    if (this.mode === 'histogram' && pass === 0) {
      this.threshold.locateBuckets();
      return;
    }
    if (this.mode === 'histogram') this.globalRules = this.threshold.resolve(this.signs);
    this.majority = majoritySign(this.signs);
    log.info(
      `TIES elected signs: ${this.signs.positive} positive, ${this.signs.negative} negative; ` +
        `entries with a zero sum take the majority sign ${this.majority}`,
    );
    this.globalRules.forEach((rule, model) =>
      log.info(`TIES model ${model + 1}: trim threshold |delta| = ${thresholdOf(rule)} (${describeTies(rule)})`),
    );
  }

  merge(batch: TensorBatch): Float32Array {
    // trim, then scale each model's task vector
    let cursors: TrimCursor[];
    if (this.mode === 'tensor') {
      cursors = this.tensorCursors(batch, false);
    } else {
      this.mergeCursors ??= this.globalRules.map((rule) => new TrimCursor(rule));
      cursors = this.mergeCursors;
    }
    const { rows, base } = batch;
    if (rows.length === 2) {
      mergeTwo(rows[0], rows[1], cursors, this.settings.coefficients, this.majority, this.settings.scalingCoefficient, base);
    } else {
      this.trimAndScale(batch, cursors);

      // elect signs, then take the disjoint mean
      const merged = this.pool.float32('merged', base.length);
      disjointMerge(rows, this.majority, merged);
      addScaled(base, merged, this.settings.scalingCoefficient, base);
    }
    if (this.mode === 'tensor') cursors.forEach((cursor, model) => (this.keptPerModel[model] += cursor.kept));
    return base;
  }

  finish(): void {
    const total = this.plan.totalEntries;
    const kept = this.mergeCursors ? this.mergeCursors.map((cursor) => cursor.kept) : this.keptPerModel;
    kept.forEach((count, model) => log.info(`TIES model ${model + 1}: kept ${count} of ${total} entries`));
  }

  /** Replaces each row by its trimmed, scaled task vector. */
  private trimAndScale(batch: TensorBatch, cursors: TrimCursor[]): void {
    batch.rows.forEach((row, model) => cursors[model].trimScaled(row, this.settings.coefficients[model], row));
  }

  /** Returns fresh cursors over this tensor's own trim rules, finding them on the first pass. */
  private tensorCursors(batch: TensorBatch, firstPass: boolean): TrimCursor[] {
    const { tensor, rows } = batch;
    if (firstPass) {
      const k = trimCount(tensor.numel, this.settings.trim);
      const rules = rows.map((row) => trimRule(k, tensor.numel, this.settings.tiesThreshold, (rank) => kthMagnitude([row], rank)));
      this.tensorRules.set(tensor.name, rules);
    }
    return this.tensorRules.get(tensor.name)!.map((rule) => new TrimCursor(rule));
  }
}

function describeTies(rule: TrimRule): string {
  if (rule === KEEP_ALL) return 'nothing trimmed';
  if (rule === DROP_ALL) return 'everything trimmed';
  return rule.keepTies === Infinity ? 'all entries at the threshold kept' : `${rule.keepTies} entries at the threshold kept`;
}
