/**
 * A CodeT5 model fine-tuned on a generation task. The task has no head: the whole
 * encoder-decoder and its LM head learn to map sources to targets, so every parameter belongs
 * to the task vector.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, InvalidInputError, getLogger, type ForwardOptions } from '@modularevo/core-tensor';
import type { TaskModel } from '@modularevo/masking';

import { CODET5_ARCHITECTURE, CodeT5PretrainedModel } from './pretrained-model';
import { generatePredictions, writePredictionFiles, type Prediction, type PredictionFileFormat } from './predictions';
import { checkLimits, type Seq2SeqBatch, type Seq2SeqLimits } from './seq2seq-batches';

const log = getLogger('codet5');

/** File that records the task and its generation settings in a fine-tuned model folder. */
export const TASK_FILE = 'task.json';

/** Length limits, overlength policy and generation settings of a generation task. */
export interface GenerationTaskSettings extends Seq2SeqLimits {
  /** Beams per input when generating for evaluation; 1 is greedy search. */
  numBeams: number;
  /** Stop a beam search input once it has `numBeams` finished hypotheses (CodeT5 sets it for summarize). */
  earlyStopping: boolean;
}

/** Scoring of a generation task and the layout of its prediction files. */
export interface GenerationScoring {
  /** Scores predictions against references; every metric is in [0, 100]. */
  score(predictions: string[], references: string[]): Record<string, number>;
  /** Line layout of the prediction files. */
  fileFormat: PredictionFileFormat;
  /** Logged with every evaluation, for metrics the evaluation leaves out. */
  note?: string;
}

/** Options of {@link CodeT5TaskModel.evaluate} and {@link CodeT5TaskModel.predict}. */
export interface GenerationEvaluateOptions extends ForwardOptions {
  /** Write `<split>.output`, `.gold` and `.src` into this folder (for example `<runDir>/predictions`). */
  predictionsDir?: string;
  /** Split name of the files and logs (default `validation`). */
  split?: string;
  /** Overrides the task's beam count. */
  numBeams?: number;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
}

/** `task.json` of a fine-tuned CodeT5 model folder. */
export interface CodeT5TaskFile {
  architecture: typeof CODET5_ARCHITECTURE;
  task: string;
  settings: GenerationTaskSettings;
}

/** A CodeT5 model plus the settings of one generation task. */
export class CodeT5TaskModel implements TaskModel<Seq2SeqBatch> {
  /** Always empty: a generation task trains the LM head the base model already has. */
  readonly head = new Map<string, tf.Variable>();
  readonly labels: string[] = [];

  /**
   * @param base - the model, which this task model owns ({@link dispose} releases it)
   * @throws InvalidInputError for invalid settings
   */
  constructor(
    readonly task: string,
    readonly base: CodeT5PretrainedModel,
    readonly settings: GenerationTaskSettings,
    private readonly scoring: GenerationScoring,
  ) {
    checkTaskSettings(settings);
  }

  /** Teacher-forced mean cross-entropy of the targets (labels with -100 padding, decoder inputs by `shift_right`). */
  loss(batch: Seq2SeqBatch, options: ForwardOptions = {}): tf.Scalar {
    return tf.tidy(() => {
      const inputIds = tf.tensor2d(batch.inputIds, [batch.rows, batch.sourceLength], 'int32');
      const attentionMask = tf.tensor2d(batch.attentionMask, [batch.rows, batch.sourceLength], 'int32');
      const labels = tf.tensor2d(batch.labels, [batch.rows, batch.targetLength], 'int32');
      return this.base.t5.forward({ inputIds, attentionMask, labels }, options).loss!;
    });
  }

  /**
   * Generates a prediction for every example and scores the predictions against the
   * references. With `predictionsDir` it also writes the prediction, reference and source files.
   *
   * @returns the task's metrics, each in [0, 100]
   * @throws InvalidInputError when every reference is empty (the released Concode test split
   *   withholds its code; use {@link predict}) or a generation setting is invalid
   */
  async evaluate(batches: Seq2SeqBatch[], options: GenerationEvaluateOptions = {}): Promise<Record<string, number>> {
    const split = options.split ?? 'validation';
    const references = batches.flatMap((batch) => batch.targets);
    if (references.length === 0) throw new InvalidInputError(`No ${split} examples to evaluate ${this.task} on`);
    if (references.every((reference) => reference.trim() === '')) {
      throw new InvalidInputError(
        `Every ${this.task} reference of the ${split} split is empty, so there is nothing to score against (the released Concode test split withholds its code); use predict() to write predictions only`,
      );
    }

    const predictions = await this.predict(batches, options);
    const metrics = this.scoring.score(predictions.map((p) => p.prediction), predictions.map((p) => p.target));
    const summary = Object.entries(metrics).map(([name, value]) => `${name} ${value.toFixed(2)}`).join(', ');
    log.info(`${this.task} ${split}: ${summary} over ${predictions.length} examples (${this.settings.numBeams} beams)`);
    if (this.scoring.note) log.info(`${this.task}: ${this.scoring.note}`);
    return metrics;
  }

  /**
   * Generates a prediction for every example, without scoring. With `predictionsDir` it writes
   * the prediction, reference and source files.
   */
  async predict(batches: Seq2SeqBatch[], options: GenerationEvaluateOptions = {}): Promise<Prediction[]> {
    const split = options.split ?? 'validation';
    const settings = {
      numBeams: options.numBeams ?? this.settings.numBeams,
      maxLength: this.settings.maxTargetLength,
      earlyStopping: this.settings.earlyStopping,
    };
    const predictions = generatePredictions(this.base, batches, settings, { linear: options.linear, progress: options.progress, label: `generate ${split}` });

    if (options.predictionsDir) {
      const files = writePredictionFiles(options.predictionsDir, split, predictions, this.scoring.fileFormat);
      log.info(`${this.task} ${split}: predictions written to ${files.output}, references to ${files.gold}`);
    }
    return predictions;
  }

  /**
   * Writes a Hugging Face model folder with the tokenizer files and `task.json`, which
   * `loadModel` of the task reads back. The folder appears only when complete.
   */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    const taskFile: CodeT5TaskFile = { architecture: CODET5_ARCHITECTURE, task: this.task, settings: this.settings };
    await this.base.save(dir, { overwrite: options.overwrite, json: { [TASK_FILE]: taskFile } });
  }

  /** Releases the model's parameters, the base model's included. */
  dispose(): void {
    this.base.dispose();
  }
}

/**
 * Reads `task.json` of a fine-tuned CodeT5 model folder and checks that it belongs to `task`.
 *
 * @throws CheckpointError when the file is missing, not JSON, of another architecture or task,
 *   or contains invalid settings
 */
export function readTaskFile(dir: string, task: string): CodeT5TaskFile {
  const file = path.join(dir, TASK_FILE);
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'not found', `Pass a folder written by a fine-tuned ${task} model`);
  let json: CodeT5TaskFile;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `not valid JSON (${(error as Error).message})`);
  }

  if (json.architecture !== CODET5_ARCHITECTURE) throw new CheckpointError(file, `belongs to architecture ${JSON.stringify(json.architecture)}, not ${CODET5_ARCHITECTURE}`);
  if (json.task !== task) throw new CheckpointError(file, `belongs to task ${JSON.stringify(json.task)}, not ${task}`, `Load it with the ${json.task} task`);
  try {
    checkTaskSettings(json.settings);
  } catch (error) {
    throw new CheckpointError(file, `has invalid settings (${(error as Error).message})`);
  }
  return json;
}

/**
 * Checks a task's limits and generation settings.
 *
 * @throws InvalidInputError naming the invalid setting
 */
export function checkTaskSettings(settings: GenerationTaskSettings): void {
  if (typeof settings !== 'object' || settings === null) throw new InvalidInputError('Task settings are missing');
  checkLimits(settings);
  if (!Number.isSafeInteger(settings.numBeams) || settings.numBeams < 1) {
    throw new InvalidInputError(`numBeams must be a positive integer (1 for greedy search), not ${settings.numBeams}`);
  }
  if (typeof settings.earlyStopping !== 'boolean') throw new InvalidInputError(`earlyStopping must be true or false, not ${JSON.stringify(settings.earlyStopping)}`);
}
