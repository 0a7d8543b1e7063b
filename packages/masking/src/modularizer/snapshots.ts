/**
 * Module snapshots of a modularization run. A module folder is saved the first time the
 * retention rate falls to or below each threshold (`wrr_<threshold>/`), and one at the end
 * (`final/`). Each holds its scores (to resume from) and its language-modelling loss on the
 * test split.
 */
import * as fs from 'fs';
import * as path from 'path';

import { getLogger } from '@modularevo/core-tensor';

import type { BaseModel } from '../base-model';
import { moduleFromScores } from '../module';
import { MODULE_JSON, saveModule } from '../module-file';
import type { MaskScores } from '../scores';
import type { LanguageModelEvaluation } from './lm-evaluation';

const log = getLogger('modularize');

/** Folder name of the final module. */
export const FINAL_MODULE = 'final';

/** Returns the folder name of the snapshot at `threshold` (`wrr_0.5`), or of the final module. */
export function snapshotName(threshold?: number): string {
  return threshold === undefined ? FINAL_MODULE : `wrr_${threshold}`;
}

/** Language-modelling loss of a module and of the unmasked model on the same test blocks. */
export interface ModuleEvaluation {
  split: 'test';
  module: LanguageModelEvaluation;
  model: LanguageModelEvaluation;
}

/** One saved module. */
export interface SnapshotRecord {
  /** Folder name: `wrr_<threshold>` or `final`. */
  name: string;
  dir: string;
  /** Threshold the retention rate crossed, or null for the final module. */
  threshold: number | null;
  /** Optimizer steps completed when it was saved. */
  step: number;
  weightRetentionRate: number;
  evaluation: ModuleEvaluation;
}

/** Inputs of the snapshot writer from the run. */
export interface SnapshotContext {
  scores: MaskScores;
  base: BaseModel;
  domain: string;
  outDir: string;
  /** Settings recorded in every `module.json` (`step` is added per snapshot). */
  training: Record<string, unknown>;
  /** The unmasked model's loss on the test blocks, measured once. */
  modelEvaluation: LanguageModelEvaluation;
  /** Evaluates the current binary masks on the test blocks. */
  evaluateModule: () => Promise<LanguageModelEvaluation>;
}

/** Saves snapshots as the retention rate falls, and the final module. */
export class SnapshotWriter {
  /** Every snapshot of the run, those of an interrupted run first. */
  readonly records: SnapshotRecord[] = [];
  private readonly pending: number[];

  /**
   * @param thresholds - in decreasing order; those whose folder a resumed run already wrote are skipped
   */
  constructor(
    private readonly context: SnapshotContext,
    thresholds: readonly number[],
  ) {
    this.pending = [];
    for (const threshold of thresholds) {
      const earlier = readEarlierSnapshot(path.join(context.outDir, snapshotName(threshold)));
      if (earlier) this.records.push(earlier);
      else this.pending.push(threshold);
    }
  }

  /** Thresholds not yet reached, largest first. */
  get remaining(): readonly number[] {
    return this.pending;
  }

  /**
   * Saves a snapshot for every pending threshold that `wrr` has reached (several when one step
   * crosses more than one) and returns them.
   */
  async afterStep(step: number, wrr: number): Promise<SnapshotRecord[]> {
    const saved: SnapshotRecord[] = [];
    while (this.pending.length > 0 && wrr <= this.pending[0]) {
      const threshold = this.pending.shift()!;
      log.info(`step ${step}: weight retention rate ${(wrr * 100).toFixed(2)}% reached threshold ${threshold}`);
      saved.push(await this.save(threshold, step));
    }
    return saved;
  }

  /** Saves the final module, replacing one that an interrupted run wrote. */
  async saveFinal(step: number): Promise<SnapshotRecord> {
    return this.save(undefined, step);
  }

  private async save(threshold: number | undefined, step: number): Promise<SnapshotRecord> {
    const { context } = this;
    const evaluation: ModuleEvaluation = { split: 'test', module: await context.evaluateModule(), model: context.modelEvaluation };
    const module = await moduleFromScores(context.scores, {
      base: context.base,
      domain: context.domain,
      threshold,
      training: { ...context.training, step },
      evaluation: { ...evaluation },
    });

    const name = snapshotName(threshold);
    const dir = path.join(context.outDir, name);
    await saveModule(dir, module, { overwrite: true });
    log.info(
      `${name}: test loss ${evaluation.module.loss.toFixed(4)} (perplexity ${evaluation.module.perplexity.toFixed(2)}) ` +
        `against ${evaluation.model.loss.toFixed(4)} (${evaluation.model.perplexity.toFixed(2)}) for the unmasked model`,
    );

    const record = { name, dir, threshold: threshold ?? null, step, weightRetentionRate: module.weightRetentionRate, evaluation };
    this.records.push(record);
    return record;
  }
}

/** Reads what the summary needs from a snapshot an interrupted run saved; undefined when there is none. */
function readEarlierSnapshot(dir: string): SnapshotRecord | undefined {
  const file = path.join(dir, MODULE_JSON);
  if (!fs.existsSync(file)) return undefined;
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  return {
    name: path.basename(dir),
    dir,
    threshold: json.threshold,
    step: json.training?.step,
    weightRetentionRate: json.weight_retention_rate,
    evaluation: json.evaluation,
  };
}
