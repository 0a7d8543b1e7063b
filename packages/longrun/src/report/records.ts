/**
 * The lines of an evolution run's `metrics.jsonl`. Every line has `step` (the index of the run
 * step that wrote it, in plan order), `time` and `kind`; the other fields depend on the kind.
 * The summary, the report and the charts are computed from these lines alone, so
 * `modularevo report RUN_DIR` can rebuild them.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, METRICS_FILE, readMetrics, type MetricsRecord } from '@modularevo/core-tensor';

/** One point of a modularization's retention curve. */
export interface WrrRecord {
  kind: 'wrr';
  /** Stage at whose start the module was learned (0: on the base model). */
  stage: number;
  domain: string;
  /** Optimizer step of the modularizer. */
  optimizer_step: number;
  wrr: number;
  loss?: number;
  lm_loss?: number;
}

/** A learned module. */
export interface ModuleRecord {
  kind: 'module';
  stage: number;
  domain: string;
  /** Model the module was learned on: `base`, or the strategy whose current model it was. */
  source: string;
  /** Fraction of the masked entries the module keeps. */
  retention: number;
  /** Masked entries kept and in all. */
  retained: number;
  total: number;
  /** Entries of every base parameter, masked or not (tied parameters counted once). */
  base_parameters: number;
  /**
   * Kept entries of masks on base parameters under their own names. A mask on a tied name
   * (GPT-Neo's `lm_head.weight`, tied to the input embedding) is left out, because fine-tuning
   * trains a parameter only through a mask under its own name.
   */
  base_retained: number;
  threshold: number;
  optimizer_steps: number;
  /** Whether the retention rate reached the threshold within the step budget. */
  reached_threshold: boolean;
}

/** Retained fraction of one layer of a module. */
export interface LayerRetentionRecord {
  kind: 'layer_retention';
  stage: number;
  domain: string;
  source: string;
  layer: string;
  layer_kind: string;
  fraction: number;
}

/** Overlap of two domain modules learned on the same model. */
export interface OverlapRecord {
  kind: 'overlap';
  stage: number;
  source: string;
  domain_a: string;
  domain_b: string;
  jaccard: number;
}

/** One fine-tuning run. */
export interface FinetuneRecord {
  kind: 'finetune';
  stage: number;
  task: string;
  /** `module` (mask-guided, on `domain`'s module) or `full`. */
  mode: string;
  /** Strategies that compose this fine-tuned model, comma-separated. */
  strategies: string;
  domain?: string;
  optimizer_steps: number;
  /** Fraction of the base parameters' entries that fine-tuning changed. */
  changed_fraction: number;
  /** Primary metric of the fine-tuned model on the validation subset and on the test split. */
  validation_score: number;
  test_score: number;
  seconds: number;
}

/** One grid point of a coefficient search, with the validation score of each task. */
export interface GridRecord {
  kind: 'grid';
  stage: number;
  strategy: string;
  /** Index of the point in evaluation order. */
  point: number;
  /** Coefficients by task, comma-separated in task order. */
  coefficients: string;
  /** Validation scores by task, comma-separated in task order. */
  scores: string;
  mean: number;
}

/** The composition a strategy chose in a stage. */
export interface MergeRecord {
  kind: 'merge';
  stage: number;
  strategy: string;
  method: string;
  /** Chosen coefficients, comma-separated in task order; empty for a method without coefficients. */
  coefficients: string;
  validation_mean: number;
  /** Standard deviation of the mean validation score over the grid points (0 for one point). */
  grid_spread: number;
  grid_points: number;
}

/** Test score of one task under one strategy after a stage. */
export interface TestRecord {
  kind: 'test';
  stage: number;
  strategy: string;
  task: string;
  /** Name of the primary metric. */
  metric: string;
  /** The primary metric's value. */
  score: number;
  /** Test examples scored. */
  examples: number;
  /** Every metric the task reported, by name, as a JSON object text. */
  metrics: string;
}

/** Any line of an evolution run's metrics file. */
export type RunRecord = (WrrRecord | ModuleRecord | LayerRetentionRecord | OverlapRecord | FinetuneRecord | GridRecord | MergeRecord | TestRecord) & {
  step: number;
  time: number;
};

/** Kinds of run records. */
export const RECORD_KINDS = ['wrr', 'module', 'layer_retention', 'overlap', 'finetune', 'grid', 'merge', 'test'] as const;

/**
 * Reads the records of a run folder's `metrics.jsonl`.
 *
 * @throws CheckpointError when the file is missing, or a line is not a run record
 */
export function readRunRecords(runDir: string): RunRecord[] {
  const file = path.join(runDir, METRICS_FILE);
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'not found', 'Pass the folder of an evolution run (it has config.json and metrics.jsonl)');

  return readMetrics(file).map((record: MetricsRecord, index) => {
    if (!(RECORD_KINDS as readonly unknown[]).includes(record.kind)) {
      throw new CheckpointError(file, `line ${index + 1} has kind ${JSON.stringify(record.kind)}, not one of ${RECORD_KINDS.join(', ')}`);
    }
    return record as unknown as RunRecord;
  });
}

/** Returns the records of one kind, typed. */
export function recordsOf<K extends RunRecord['kind']>(records: readonly RunRecord[], kind: K): Extract<RunRecord, { kind: K }>[] {
  return records.filter((record): record is Extract<RunRecord, { kind: K }> => record.kind === kind);
}

/** Splits a comma-separated list of numbers as the records write them. */
export function parseNumberList(text: string): number[] {
  return text === '' ? [] : text.split(',').map(Number);
}
