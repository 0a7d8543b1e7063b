/**
 * The CodeXGLUE generation tasks ModularEvo fine-tunes CodeT5 on: code summarization
 * (code-to-text) and code generation (Concode). Defaults follow CodeT5's `run_exp.py`: source
 * and target limits of 256 and 128 tokens for summarize, and 320 and 150 for concode.
 * Evaluation generates with `max_length` set to the target limit, with early stopping for
 * summarize. The beam count defaults to 1 (greedy search), where CodeT5 uses 10.
 */
import { InvalidInputError, createRng } from '@modularevo/core-tensor';
import {
  concodeBleu,
  exactMatch,
  readTask,
  smoothBleu,
  type GenerationExample,
  type SplitName,
  type TaskSource,
} from '@modularevo/datasets';
import type { ArchitectureTask, BatchOptions, PretrainedModel, TaskDataset, TaskInfo, TaskLoadOptions } from '@modularevo/masking';

import { asCodeT5 } from './objective';
import { CodeT5PretrainedModel } from './pretrained-model';
import {
  batchSeq2Seq,
  checkSource,
  countSeq2SeqTokens,
  encodeSeq2Seq,
  type EncodedExample,
  type OverlengthPolicy,
  type Seq2SeqBatch,
} from './seq2seq-batches';
import { CodeT5TaskModel, checkTaskSettings, readTaskFile, type GenerationScoring, type GenerationTaskSettings } from './task-model';

/** Options of {@link ArchitectureTask.batches} for generation tasks. */
export interface Seq2SeqBatchOptions extends BatchOptions {
  /** Overrides the task's target limit. (`maxLength` overrides the source limit.) */
  maxTargetLength?: number;
  /** Overrides the task's overlength policy. */
  overlength?: OverlengthPolicy;
}

/** A generation task: what it is, where its data comes from, its defaults and its scoring. */
export interface GenerationTaskDefinition {
  info: TaskInfo;
  /** Task name of the `@modularevo/datasets` reader (`readTask`). */
  dataset: 'summarize' | 'concode';
  defaults: GenerationTaskSettings;
  scoring: GenerationScoring;
}

/** Defaults of summarize: CodeT5's limits for code-to-text. */
export const SUMMARIZE_DEFAULTS: GenerationTaskSettings = { maxSourceLength: 256, maxTargetLength: 128, overlength: 'truncate', numBeams: 1, earlyStopping: true };

/** Defaults of concode: CodeT5's limits for Concode. */
export const CONCODE_DEFAULTS: GenerationTaskSettings = { maxSourceLength: 320, maxTargetLength: 150, overlength: 'truncate', numBeams: 1, earlyStopping: false };

/** Note logged with every Concode evaluation. */
export const CODEBLEU_NOTE =
  'CodeBLEU is not computed because no maintained JavaScript implementation exists; run CodeXGLUE\'s CodeBLEU (calc_code_bleu.py) on the .output and .gold prediction files';

/**
 * Scores code summarization as CodeXGLUE's code-to-text evaluator: `smooth-bleu` (smoothed
 * sentence BLEU-4 averaged over examples) and `exact-match` (stripped texts equal), both in
 * percent.
 */
export const SUMMARIZE_SCORING: GenerationScoring = {
  score: (predictions, references) => ({
    'smooth-bleu': smoothBleu(predictions, references),
    'exact-match': 100 * exactMatch(predictions, references, 'strip'),
  }),
  fileFormat: 'indexed',
};

/**
 * Scores Concode as CodeXGLUE's text-to-code evaluator: `bleu` (corpus BLEU-4 over whitespace
 * tokens) and `exact-match` (stripped texts equal, as CodeT5 counts it), both in percent.
 */
export const CONCODE_SCORING: GenerationScoring = {
  score: (predictions, references) => ({
    bleu: concodeBleu(predictions, references),
    'exact-match': 100 * exactMatch(predictions, references, 'strip'),
  }),
  fileFormat: 'plain',
  note: CODEBLEU_NOTE,
};

/**
 * Creates the summarize task for one language. Its default domain (the module it fine-tunes
 * on) is that language.
 *
 * @throws InvalidInputError for an invalid setting
 */
export function createSummarizeTask(options: { language?: string } & Partial<GenerationTaskSettings> = {}): GenerationTask {
  const { language = 'python', ...settings } = options;
  return new GenerationTask({
    info: {
      name: 'summarize',
      description: `CodeXGLUE code-to-text: generate the docstring of a ${language} function`,
      primaryMetric: 'smooth-bleu',
      defaultDomain: language,
    },
    dataset: 'summarize',
    defaults: { ...SUMMARIZE_DEFAULTS, ...settings },
    scoring: SUMMARIZE_SCORING,
  });
}

/**
 * Creates the concode task (Java code generation); its default domain is `java`.
 *
 * @throws InvalidInputError for an invalid setting
 */
export function createConcodeTask(settings: Partial<GenerationTaskSettings> = {}): GenerationTask {
  return new GenerationTask({
    info: {
      name: 'concode',
      description: 'CodeXGLUE Concode: generate a Java member from its description and class context',
      primaryMetric: 'bleu',
      defaultDomain: 'java',
    },
    dataset: 'concode',
    defaults: { ...CONCODE_DEFAULTS, ...settings },
    scoring: CONCODE_SCORING,
  });
}

/** A generation task as the generic fine-tuner runs it; see {@link createSummarizeTask} and {@link createConcodeTask}. */
export class GenerationTask implements ArchitectureTask<GenerationExample, Seq2SeqBatch> {
  readonly info: TaskInfo;

  constructor(readonly definition: GenerationTaskDefinition) {
    checkTaskSettings(definition.defaults);
    this.info = definition.info;
  }

  /** Settings given to every model this task creates. */
  get settings(): GenerationTaskSettings {
    return this.definition.defaults;
  }

  /**
   * Reads the task's CodeXGLUE files (a code-to-text language folder or split files; the
   * Concode folder or split files).
   *
   * @throws CheckpointError for missing or malformed files
   * @throws InvalidInputError for an example with an empty source, naming it and its split
   */
  async load(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskDataset<GenerationExample>> {
    const data = await readTask(this.definition.dataset, source);
    const rng = createRng(options.seed ?? 0).fork('max-examples');
    const splits: Partial<Record<SplitName, GenerationExample[]>> = {};

    for (const [split, examples] of Object.entries(data.splits) as [SplitName, GenerationExample[]][]) {
      for (const example of examples) checkSource(`${this.info.name} ${split}`, example);
      const limit = options.maxExamples?.[split];
      if (limit === undefined || limit >= examples.length) {
        splits[split] = examples;
        continue;
      }
      if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidInputError(`maxExamples.${split} must be a positive integer, not ${limit}`);
      splits[split] = rng.fork(split).shuffle([...examples]).slice(0, limit);
    }
    return { task: this.info.name, labels: [], splits };
  }

  /**
   * Wraps `base` for this task. Nothing is initialised, since the task has no head.
   *
   * @throws InvalidInputError when `base` is not a CodeT5 model or `data` belongs to another task
   */
  createModel(base: PretrainedModel, data: TaskDataset<GenerationExample>, _options: { seed: number }): CodeT5TaskModel {
    if (data.task !== this.info.name) throw new InvalidInputError(`Data of task ${data.task} cannot train a ${this.info.name} model`);
    return new CodeT5TaskModel(this.info.name, asCodeT5(base), this.settings, this.definition.scoring);
  }

  /**
   * Loads a folder written by {@link CodeT5TaskModel.save}, with the settings it was saved with.
   *
   * @throws CheckpointError when `task.json`, the config or the weights are missing or invalid
   */
  async loadModel(dir: string): Promise<CodeT5TaskModel> {
    const taskFile = readTaskFile(dir, this.info.name);
    return new CodeT5TaskModel(this.info.name, CodeT5PretrainedModel.load(dir), taskFile.settings, this.definition.scoring);
  }

  /**
   * Tokenizes and batches examples with the model's limits; `maxLength` overrides the source
   * limit and `maxTargetLength` the target limit.
   *
   * @throws InvalidInputError as `encodeSeq2Seq` and `batchSeq2Seq`
   */
  batches(model: CodeT5TaskModel, examples: GenerationExample[], options: Seq2SeqBatchOptions): Seq2SeqBatch[] {
    const padId = model.base.tokenizer().padId ?? model.base.t5.config.pad_token_id;
    return batchSeq2Seq(this.encode(model, examples, options), padId, options.batchSize, options.shuffleSeed);
  }

  /**
   * Tokenizes examples with the model's limits (overridden as in {@link batches}), so a
   * training loop can tokenize once and batch every epoch in a new order.
   *
   * @throws InvalidInputError as `encodeSeq2Seq`
   */
  encode(model: CodeT5TaskModel, examples: readonly GenerationExample[], options: Omit<Seq2SeqBatchOptions, 'batchSize' | 'shuffleSeed'> = {}): EncodedExample[] {
    const settings = model.settings;
    return encodeSeq2Seq(model.base.tokenizer(), examples, {
      task: this.info.name,
      limits: {
        maxSourceLength: options.maxLength ?? settings.maxSourceLength,
        maxTargetLength: options.maxTargetLength ?? settings.maxTargetLength,
        overlength: options.overlength ?? settings.overlength,
      },
    });
  }

  tokens(batch: Seq2SeqBatch): number {
    return countSeq2SeqTokens(batch);
  }

  /** Returns whether any example has a reference target (the released Concode test split has none). */
  hasReferences(examples: GenerationExample[]): boolean {
    return examples.some((example) => example.target.trim() !== '');
  }
}
