/**
 * The classification tasks ModularEvo fine-tunes GPT-Neo on (MathQA, LexGLUE SCOTUS, Rosetta Code
 * and language identification) and the built-in offline tasks that stand in for them. Each
 * task reads its published format or the generic `{text, label}` JSON-lines format, and runs
 * the same classifier: mean-pooled final hidden states and the ModularEvo head.
 */
import { createRng, InvalidInputError, CheckpointError } from '@modularevo/core-tensor';
import {
  BUILTIN_TASK_INFO,
  collateLabelled,
  encodeTexts,
  TASKS,
  type ClassificationExample,
  type TaskName,
  type TaskSource,
} from '@modularevo/datasets';
import type { ArchitectureTask, BatchOptions, PretrainedModel, TaskDataset, TaskInfo, TaskLoadOptions } from '@modularevo/masking';

import { GPTNeoWithClassificationHead } from './classifier';
import { asGPTNeo } from './modularization-objective';
import { readClassificationTask } from './task-data';
import { GPTNeoTaskModel, type ClassificationBatch } from './task-model';

/** Maximum input length of the original fine-tuning scripts (`max_length=512`), capped by the model's positions. */
export const DEFAULT_MAX_LENGTH = 512;

/** Definition of one GPT-Neo task: its description and its published reader. */
export interface GPTNeoTaskDefinition {
  info: TaskInfo;
  /** `readTask` name of the published format; tasks without one read only the generic format. */
  reader?: TaskName;
}

/** A GPT-Neo classification task as the generic fine-tuner runs it. */
export class GPTNeoClassificationTask implements ArchitectureTask<ClassificationExample, ClassificationBatch> {
  readonly info: TaskInfo;
  // encodings by example list and maximum length, so each split is tokenized (and warned about) once
  private readonly encoded = new WeakMap<readonly ClassificationExample[], Map<number, number[][]>>();

  constructor(readonly definition: GPTNeoTaskDefinition) {
    this.info = definition.info;
  }

  /**
   * Reads the task's data: the generic `{text, label}` format (a folder with `train.jsonl`,
   * `validation.jsonl`, `test.jsonl`, or split files), or the task's published format.
   *
   * @throws MismatchError when a label is not in the label set (the given one, the task's fixed
   *   classes, or the labels of the train split)
   * @throws CheckpointError for missing or malformed files
   */
  async load(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskDataset<ClassificationExample>> {
    return readClassificationTask(this.info.name, this.definition.reader, source, options);
  }

  /**
   * Puts a classification head, initialised from `options.seed`, on a GPT-Neo base model.
   *
   * @throws InvalidInputError when `base` is not a GPT-Neo model or `data` belongs to another task
   */
  createModel(base: PretrainedModel, data: TaskDataset<ClassificationExample>, options: { seed: number }): GPTNeoTaskModel {
    if (data.task !== this.info.name) throw new InvalidInputError(`Data of task ${data.task} cannot train a ${this.info.name} model`);
    const rng = createRng(options.seed).fork(`${this.info.name}/head`);
    const classifier = GPTNeoWithClassificationHead.create(asGPTNeo(base), { task: this.info.name, labels: data.labels }, () => rng.uniform());
    return new GPTNeoTaskModel(classifier);
  }

  /**
   * Loads a fine-tuned model folder written by `GPTNeoTaskModel.save`.
   *
   * @throws CheckpointError when the folder is incomplete, or its `task.json` names another task
   */
  async loadModel(dir: string): Promise<GPTNeoTaskModel> {
    const classifier = GPTNeoWithClassificationHead.fromPretrained(dir);
    if (classifier.task.task !== this.info.name) {
      classifier.dispose();
      throw new CheckpointError(dir, `was fine-tuned for task ${classifier.task.task}, not ${this.info.name}`, `Load it with the ${classifier.task.task} task`);
    }
    return new GPTNeoTaskModel(classifier);
  }

  /**
   * Tokenizes (once per example list and length), truncates to `maxLength` tokens with one
   * warning per split, shuffles with `shuffleSeed` when given, and pads each batch on the right
   * with the EOS id, as GPT-Neo fine-tuning pads.
   *
   * @throws InvalidInputError when `maxLength` exceeds the model's positions or the batch size is invalid
   */
  batches(model: GPTNeoTaskModel, examples: ClassificationExample[], options: BatchOptions): ClassificationBatch[] {
    const { batchSize } = options;
    if (!(Number.isSafeInteger(batchSize) && batchSize >= 1)) throw new InvalidInputError(`Invalid batchSize ${batchSize}: use a whole number of at least 1`);
    const maxPositions = model.base.config.max_position_embeddings;
    const maxLength = options.maxLength ?? Math.min(DEFAULT_MAX_LENGTH, maxPositions);
    if (!(Number.isSafeInteger(maxLength) && maxLength >= 1 && maxLength <= maxPositions)) {
      throw new InvalidInputError(`Invalid maxLength ${maxLength}: the model has ${maxPositions} positions (max_position_embeddings), so use 1 to ${maxPositions}`);
    }

    const ids = this.encode(model, examples, maxLength, options.split);
    const order = options.shuffleSeed === undefined ? ids.map((_, i) => i) : createRng(options.shuffleSeed).fork('batches').permutation(ids.length);
    const padId = model.base.tokenizer().padId!;
    const batches: ClassificationBatch[] = [];
    for (let start = 0; start < order.length; start += batchSize) {
      const rows = order.slice(start, start + batchSize).map((index) => ({ ids: ids[index], label: examples[index].label }));
      batches.push(collateLabelled(rows, padId));
    }
    return batches;
  }

  /** Real (unpadded) tokens in a batch. */
  tokens(batch: ClassificationBatch): number {
    let count = 0;
    for (const value of batch.attentionMask) count += value;
    return count;
  }

  labelOf(example: ClassificationExample): number {
    return example.label;
  }

  private encode(model: GPTNeoTaskModel, examples: readonly ClassificationExample[], maxLength: number, split: string | undefined): number[][] {
    let byLength = this.encoded.get(examples);
    if (!byLength) this.encoded.set(examples, (byLength = new Map()));
    let ids = byLength.get(maxLength);
    if (!ids) {
      const texts = examples.map((example) => example.text);
      const datasetName = `${this.info.name}/${split ?? `${examples.length} examples`}`;
      ids = encodeTexts(texts, model.base.tokenizer(), { maxLength, datasetName }).ids;
      // an empty text still needs one position to pool over
      ids = ids.map((row) => (row.length > 0 ? row : [model.base.tokenizer().eosId!]));
      byLength.set(maxLength, ids);
    }
    return ids;
  }
}

function paperTask(reader: TaskName, defaultDomain: string): GPTNeoClassificationTask {
  return new GPTNeoClassificationTask({ info: { name: reader, description: TASKS[reader].description, primaryMetric: 'accuracy', defaultDomain }, reader });
}

function builtinTask(name: keyof typeof BUILTIN_TASK_INFO): GPTNeoClassificationTask {
  const { description, domain } = BUILTIN_TASK_INFO[name];
  return new GPTNeoClassificationTask({ info: { name, description: `${description} (built-in data, generic format)`, primaryMetric: 'accuracy', defaultDomain: domain } });
}

/**
 * The GPT-Neo tasks by name. ModularEvo's four GPT-Neo tasks fine-tune on modules of The Pile's
 * components: `mathqa` on DM Mathematics (`math`), `scotus` on FreeLaw (`law`), `code` on
 * `github` and `langid` on `europarl`. The built-in tasks use the built-in corpora. A default
 * domain only names the module a workflow picks by default, because any module of the same base
 * model can guide fine-tuning. `langid` also reads the built-in language identification data,
 * which is in the generic format.
 */
export const GPTNEO_TASKS: Readonly<Record<string, GPTNeoClassificationTask>> = {
  mathqa: paperTask('mathqa', 'math'),
  scotus: paperTask('scotus', 'law'),
  code: paperTask('code', 'github'),
  langid: paperTask('langid', 'europarl'),
  'math-topic': builtinTask('math-topic'),
  'license-family': builtinTask('license-family'),
  'code-language': builtinTask('code-language'),
};
