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
 * Sampling of the first global-threshold pass. Above `minEntries` merged entries, the first
 * pass reads `fraction` of every chunk, which is enough to place the threshold range. Tests
 * lower the limits to exercise the sampled and fallback paths on small models.
 */
export const TIES_SAMPLING = { minEntries: 1 << 22, fraction: 1 / 32 };

/**
 * Step of the TIES prepare passes.
 * - `histogram`: global scope; histograms every magnitude, or a sample of them.
 * - `refine`: global scope; finds the exact thresholds inside the histogram's ranges and counts
 *   the elected signs.
 * - `signs`: the trim rules are known (rate 0 or 1, or after `refine`), so one pass counts signs.
 * - `tensor`: per-tensor scope; finds each tensor's thresholds and counts signs in one pass.
 * - `done`: the merge pass can run.
 */
type Phase = 'histogram' | 'refine' | 'signs' | 'tensor' | 'done';

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
  readonly mergeRowsAsDeltas: boolean;
  readonly wholeTensors: boolean;

  private phase: Phase;
  private plannedPasses: number;
  private sampling: boolean;
  private readonly k: number;
  private readonly threshold: GlobalTrimThreshold;
  private globalRules: TrimRule[];
  private readonly tensorRules = new Map<string, TrimRule[]>();
  private signs: SignCounts = { positive: 0, negative: 0 };
  private majority = 0;
  private mergeCursors: TrimCursor[] | undefined;
  private readonly keptPerModel: number[];
  private readonly pool = new BufferPool();

  /**
   * @param deltasInMerge - whether the merge pass gets task vectors, as DARE passes them. Otherwise
   *   it gets fine-tuned values, and the two-model kernel subtracts the base itself.
   */
  constructor(
    private readonly settings: TiesSettings,
    private readonly plan: MergePlan,
    deltasInMerge = false,
  ) {
    const models = settings.coefficients.length;
    this.mergeRowsAsDeltas = deltasInMerge || models !== 2;
    this.k = trimCount(plan.totalEntries, settings.trim);
    this.threshold = new GlobalTrimThreshold(this.k, plan.totalEntries, settings.tiesThreshold, settings.coefficients);
    this.keptPerModel = new Array<number>(models).fill(0);
    this.sampling = plan.totalEntries > TIES_SAMPLING.minEntries;

    if (settings.trim > 0 && settings.trimScope === 'tensor') {
      this.phase = 'tensor';
      this.globalRules = [];
    } else if (this.k <= 0 || this.k >= plan.totalEntries) {
      this.phase = 'signs';
      this.globalRules = new Array<TrimRule>(models).fill(this.k <= 0 ? KEEP_ALL : DROP_ALL);
    } else {
      this.phase = 'histogram';
      this.globalRules = [];
    }
    this.plannedPasses = this.phase === 'histogram' ? 2 : 1;
    this.wholeTensors = this.phase === 'tensor';

    if (settings.trim > 0) {
      const scope = settings.trimScope === 'global' ? `k = ${this.k} of ${plan.totalEntries} entries per model` : 'per tensor';
      log.info(`TIES trim: dropping the smallest ${settings.trim} of each task vector (${scope}, ${settings.tiesThreshold})`);
    }
  }

  /** Passes planned so far; a missed sampled range or too many waiting entries add passes. */
  get preparePasses(): number {
    return this.plannedPasses;
  }

  passName(): string {
    switch (this.phase) {
      case 'histogram':
        return this.sampling ? 'sampled magnitude histogram' : 'magnitude histogram';
      case 'refine':
        return 'trim thresholds and sign election';
      case 'tensor':
        return 'per-tensor trim thresholds and sign election';
      default:
        return 'sign election';
    }
  }

  sampleFraction(): number {
    return this.phase === 'histogram' && this.sampling ? TIES_SAMPLING.fraction : 1;
  }

  prepare(_pass: number, batch: TensorBatch): void {
    switch (this.phase) {
      case 'histogram':
        this.threshold.addToHistograms(batch.rows);
        return;
      case 'refine': {
        const length = batch.base.length;
        const first = batch.tensor.offset + batch.start;
        const ambiguous = this.pool.bytes('ambiguous', length);
        this.threshold.refineAndCountSigns(batch.rows, first, ambiguous, this.pool.float32('sums', length), this.signs);
        return;
      }
      case 'signs':
      case 'tensor': {
        const cursors = this.phase === 'tensor' ? this.tensorCursors(batch, true) : this.globalRules.map((rule) => new TrimCursor(rule));
        this.trimAndScale(batch, cursors);
        const sums = this.pool.float32('sums', batch.base.length);
        sumRows(batch.rows, sums);
        countSigns(sums, this.signs);
        return;
      }
    }
  }

  finishPass(): void {
    switch (this.phase) {
      case 'histogram':
        this.threshold.locateRanges();
        this.phase = 'refine';
        return;
      case 'refine':
        this.finishRefine();
        return;
      default:
        this.finishSigns();
    }
  }

  merge(batch: TensorBatch): Float32Array {
    // trim, then scale each model's task vector
    let cursors: TrimCursor[];
    if (this.wholeTensors) {
      cursors = this.tensorCursors(batch, false);
    } else {
      this.mergeCursors ??= this.globalRules.map((rule) => new TrimCursor(rule));
      cursors = this.mergeCursors;
    }

    const { rows, base } = batch;
    if (rows.length === 2) {
      const reference = this.mergeRowsAsDeltas ? this.pool.zeros('zeros', base.length) : base;
      mergeTwo(rows[0], rows[1], reference, cursors, this.settings.coefficients, this.majority, this.settings.scalingCoefficient, base);
    } else {
      this.trimAndScale(batch, cursors);

      // elect signs, then take the disjoint mean
      const merged = this.pool.float32('merged', base.length);
      disjointMerge(rows, this.majority, merged);
      addScaled(base, merged, this.settings.scalingCoefficient, base);
    }
    if (this.wholeTensors) cursors.forEach((cursor, model) => (this.keptPerModel[model] += cursor.kept));
    return base;
  }

  finish(): void {
    const total = this.plan.totalEntries;
    const kept = this.mergeCursors ? this.mergeCursors.map((cursor) => cursor.kept) : this.keptPerModel;
    kept.forEach((count, model) => log.info(`TIES model ${model + 1}: kept ${count} of ${total} entries`));
  }

  /** Takes the refine pass's outcome: done, one more pass for the signs, or exact histogram passes. */
  private finishRefine(): void {
    const outcome = this.threshold.resolve(this.signs);
    if (outcome.kind === 'missed') {
      log.info('TIES: the sampled threshold range missed a threshold, so exact histogram passes follow');
      this.threshold.restart();
      this.sampling = false;
      this.signs = { positive: 0, negative: 0 };
      this.phase = 'histogram';
      this.plannedPasses += 2;
      return;
    }
    this.globalRules = outcome.rules;
    if (outcome.kind === 'rules-only') {
      this.signs = { positive: 0, negative: 0 };
      this.phase = 'signs';
      this.plannedPasses += 1;
      return;
    }
    this.finishSigns();
  }

  /** Fixes the majority sign and logs the trim rules. */
  private finishSigns(): void {
    this.phase = 'done';
    this.majority = majoritySign(this.signs);
    log.info(
      `TIES elected signs: ${this.signs.positive} positive, ${this.signs.negative} negative; ` +
        `entries with a zero sum take the majority sign ${this.majority}`,
    );
    this.globalRules.forEach((rule, model) =>
      log.info(`TIES model ${model + 1}: trim threshold |delta| = ${thresholdOf(rule)} (${describeTies(rule)})`),
    );
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
