/**
 * The interface an architecture package implements so that the generic machinery (modularizer,
 * fine-tuner, merger, evolution driver, cost benchmark) can run on it without knowing its
 * internals. `@modularevo/gptneo`, `@modularevo/codebert` and `@modularevo/codet5` each export
 * one {@link Architecture} as `architecture`; a new architecture is a new package that does the
 * same (`nx g @modularevo/tools:architecture NAME` scaffolds one).
 */
import type * as tf from '@tensorflow/tfjs-core';

import type { ForwardOptions, LinearLayer, StateDict } from '@modularevo/core-tensor';
import type { CorpusSplit, SplitName, TaskSource } from '@modularevo/datasets';

/** A pretrained transformer loaded from a Hugging Face model folder. */
export interface PretrainedModel {
  /** Name of the architecture that loaded it (`gptneo`, `codebert`, `codet5`). */
  readonly architecture: string;
  /** The model's `config.json` as read. */
  readonly configJson: Record<string, unknown>;
  /** Folder it was loaded from; its tokenizer files are copied when the model is saved. */
  readonly sourceDir?: string;
  /** Every parameter under its Hugging Face name; tied duplicates (`lm_head.weight`) appear once. */
  readonly params: Map<string, tf.Variable>;
  /** Returns the parameter `name`, following tied names and aliases. */
  parameter(name: string): tf.Variable;
  /** Linear layers that can carry masks, in module order, with Hugging Face weight and bias names. */
  linearLayers(): LinearLayer[];
  /** Copies the parameters out under Hugging Face names, as `save_pretrained` writes them. */
  stateDict(): StateDict;
  /**
   * Overwrites parameters from `state` (Hugging Face names; names absent from `state` keep their
   * values). Throws a MismatchError naming the tensor for an unknown name or another shape.
   */
  assign(state: StateDict): void;
  /** Writes a complete Hugging Face model folder (config, weights, tokenizer files), atomically. */
  save(dir: string, options?: { overwrite?: boolean }): Promise<void>;
  dispose(): void;
}

/** Settings of a modularization corpus, as the modularizer passes them. */
export interface CorpusOptions {
  /** Tokens per training block. */
  blockSize: number;
  batchSize: number;
  /** Seed of every random choice the objective makes (masked positions, noise spans). */
  seed: number;
  /** Cap on the number of blocks (after tokenization), to bound a run. */
  maxBlocks?: number;
}

/** Options of {@link Architecture.readCorpus}. */
export interface CorpusReadOptions {
  /** Domain of the module being learned; the code architectures read the CodeSearchNet language of that name. */
  domain: string;
  /** Stop reading after this many documents. */
  maxDocuments?: number;
}

/** A tokenized corpus ready for an objective, split into batches. */
export interface PreparedCorpus<Batch = unknown> {
  /** Batches of one epoch; the same `epoch` always yields the same order. */
  batches(epoch: number): Batch[];
  /** Number of blocks (rows) in the corpus. */
  numBlocks: number;
  /** Tokens the objective sees per batch, for throughput figures. */
  tokensPerBatch: number;
  /**
   * Number of targets the loss of `batch` averages over. When given, evaluation weights each
   * batch's mean loss by it, so the result is the mean per target (as perplexity needs) even
   * when the last batch is smaller. Without it, every batch weighs the same.
   */
  targetTokens?(batch: Batch): number;
}

/**
 * The language-modelling objective a module is learned with: causal LM (GPT-Neo), masked LM
 * (CodeBERT) or span-corruption denoising (CodeT5).
 */
export interface ModularizationObjective<Batch = unknown> {
  /** `causal-lm`, `masked-lm` or `span-corruption`. */
  readonly name: string;
  /**
   * Tokenizes `texts` with the model's tokenizer and cuts them into batches. Throws an
   * InvalidInputError when the texts make no complete block.
   */
  prepare(model: PretrainedModel, texts: string[], options: CorpusOptions): PreparedCorpus<Batch>;
  /** Mean loss of one batch; `options.linear` carries the masks while modularizing. */
  loss(model: PretrainedModel, batch: Batch, options?: ForwardOptions): tf.Scalar;
}

/** What a task is, for help texts and result tables. */
export interface TaskInfo {
  /** Task name as the CLI takes it (`mathqa`, `clone`, `summarize`, ...). */
  name: string;
  description: string;
  /** Metric that selects checkpoints, coefficients and fills result tables (higher is better). */
  primaryMetric: string;
  /** Domain module the task is fine-tuned on by default (`mathqa` -> `math`). */
  defaultDomain: string;
}

/** A task's examples per split, as the architecture's task reader produced them. */
export interface TaskDataset<Example = unknown> {
  task: string;
  /** Class names by id for classification tasks; empty for generation. */
  labels: string[];
  splits: Partial<Record<SplitName, Example[]>>;
}

/** Options of {@link ArchitectureTask.load}. */
export interface TaskLoadOptions {
  /** Fixed label set (a fine-tuned model's labels), so ids stay stable across runs and stages. */
  labels?: readonly string[];
  /** Keep at most this many examples per split (first N after a seeded shuffle). */
  maxExamples?: Partial<Record<SplitName, number>>;
  seed?: number;
}

/** Options of {@link ArchitectureTask.batches}. */
export interface BatchOptions {
  batchSize: number;
  /** Maximum tokens per sequence; longer inputs are truncated with one warning per dataset. */
  maxLength?: number;
  /** Shuffle with this seed; no shuffling when undefined. */
  shuffleSeed?: number;
  /** Split the examples come from (`train`, `validation`, `test`), for log lines such as the truncation warning. */
  split?: string;
}

/** Options of {@link TaskModel.evaluate} and {@link TaskModel.predict}. */
export interface EvaluateOptions extends ForwardOptions {
  /** Folder for prediction files, for tasks that write them (generation tasks). */
  predictionsDir?: string;
  /** Name of the split being scored, for file names and logs (default `validation`). */
  split?: string;
  /** Draw a progress bar on stderr, for evaluations that take long (default true). */
  progress?: boolean;
}

/**
 * A base model plus one task head. The task model owns its base model: `dispose` releases both.
 */
export interface TaskModel<Batch = unknown> {
  readonly task: string;
  readonly base: PretrainedModel;
  /** Head parameters; their names match the architecture's {@link Architecture.taskHeadPattern}. */
  readonly head: Map<string, tf.Variable>;
  /** Class names by id (classification), empty otherwise. */
  readonly labels: string[];
  /** Mean training loss of one batch. */
  loss(batch: Batch, options?: ForwardOptions): tf.Scalar;
  /** Scores the model on `batches`; the result holds at least the task's primary metric. */
  evaluate(batches: Batch[], options?: EvaluateOptions): Promise<Record<string, number>>;
  /**
   * Writes predictions for `batches` without scoring them, for splits without references (the
   * released Concode test split). Only tasks that generate text provide it.
   */
  predict?(batches: Batch[], options?: EvaluateOptions): Promise<unknown>;
  /** Writes a model folder: the base model, the head tensors and `task.json`. */
  save(dir: string, options?: { overwrite?: boolean }): Promise<void>;
  /** Releases the head and the base model. */
  dispose(): void;
}

/** One downstream task as an architecture runs it. */
export interface ArchitectureTask<Example = unknown, Batch = unknown> {
  readonly info: TaskInfo;
  /** Reads the task's data from a file, folder, or the file of each split. */
  load(source: TaskSource, options?: TaskLoadOptions): Promise<TaskDataset<Example>>;
  /** Puts a freshly initialised head (seeded) on `base`. */
  createModel(base: PretrainedModel, data: TaskDataset<Example>, options: { seed: number }): TaskModel<Batch>;
  /** Loads a fine-tuned task model folder written by {@link TaskModel.save}. */
  loadModel(dir: string): Promise<TaskModel<Batch>>;
  /** Tokenizes and collates examples for `model`. */
  batches(model: TaskModel<Batch>, examples: Example[], options: BatchOptions): Batch[];
  /** Tokens in a batch, for throughput figures. */
  tokens(batch: Batch): number;
  /** Class id of a classification example, for the majority-class baseline; generation tasks leave it out. */
  labelOf?(example: Example): number;
  /**
   * Returns whether the examples carry references to score against (default: true). When it
   * returns false for the test split, the fine-tuner writes predictions with
   * {@link TaskModel.predict} instead of scoring.
   */
  hasReferences?(examples: Example[]): boolean;
}

/** Policy of mask-guided fine-tuning for base parameters the module has no mask for. */
export interface ModuleFineTuningPolicy {
  /**
   * Parameters that never train under a module, even where a mask covers them through a tied
   * name (CodeT5 keeps `shared.weight` frozen although its tied `lm_head.weight` is masked).
   */
  frozenParameters?: readonly string[];
  /**
   * Train base parameters without a mask entry (embeddings, layer norms) in full. Default false:
   * they stay frozen, as ModularEvo's GPT-Neo `--use_mask` scripts freeze them. CodeT5's
   * `run_gen_module.py` trains them.
   */
  trainUnmaskedParameters?: boolean;
}

/** Everything the generic machinery needs from one architecture. */
export interface Architecture {
  /** Name as `--arch` takes it and as the package is called (`gptneo`). */
  readonly name: string;
  /** Hugging Face `model_type` values this architecture loads (`gpt_neo`). */
  readonly modelTypes: readonly string[];
  /** Regular expression (anchored at the start, as `re.match`) of task-head parameter names. */
  readonly taskHeadPattern: string;
  /** Loads a Hugging Face model folder. Start a backend (`initBackend`) first. */
  load(dir: string): Promise<PretrainedModel>;
  readonly objective: ModularizationObjective;
  /** The tasks this architecture runs, by name. */
  readonly tasks: Readonly<Record<string, ArchitectureTask>>;
  /** Policy of mask-guided fine-tuning for parameters outside the module (default: they stay frozen). */
  readonly moduleFineTuning?: ModuleFineTuningPolicy;
  /**
   * Reads one split of a modularization corpus kept in a layout of the architecture's own, such
   * as CodeSearchNet's `<lang>/final/jsonl/<split>/` for the code models. Returns undefined when
   * `source` is not in that layout, and the modularizer then reads it as `{"text": ...}` JSON
   * lines. Without this member every corpus is read that way.
   */
  readCorpus?(source: string, split: CorpusSplit, options: CorpusReadOptions): Promise<string[] | undefined>;
}
