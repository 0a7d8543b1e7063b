/** Split names as Hugging Face `datasets` uses them. */
export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;

/** A dataset split. */
export type SplitName = (typeof SPLIT_NAMES)[number];

/** The file of each split, as the user names them (`{train: path, validation: path, test: path}`). */
export type SplitFiles = Partial<Record<SplitName, string>>;

/** Kind of prediction a task asks for. */
export type TaskKind = 'classification' | 'pair-classification' | 'retrieval' | 'generation';

/** Metric names as run configurations and result tables spell them. */
export type MetricName = 'accuracy' | 'macro-f1' | 'f1' | 'precision' | 'recall' | 'smooth-bleu' | 'bleu' | 'exact-match';

/** The downstream tasks of ModularEvo. */
export type TaskName = 'mathqa' | 'scotus' | 'code' | 'langid' | 'clone' | 'search' | 'summarize' | 'concode';

/** A downstream task: what its data looks like and how it is scored. */
export interface TaskDefinition {
  name: TaskName;
  description: string;
  kind: TaskKind;
  /**
   * Fields of the published format by role: `text` (and `textPair`) are the model inputs of
   * classification tasks, `label` the class, `source` and `target` the pair of a generation task.
   */
  fields: { text?: string; textPair?: string; label?: string; source?: string; target?: string };
  /** Class names by label id when the task fixes them; undefined when they come from the data. */
  labels?: readonly string[];
  /** Splits the published data has. */
  splits: readonly SplitName[];
  /** The metric that model selection and the result tables use. */
  primaryMetric: MetricName;
  metrics: readonly MetricName[];
}

/** One example of a single-text classification task. */
export interface ClassificationExample {
  /** Identifier within the task (the record's id, or file and line). */
  id: string;
  text: string;
  /** Class id: index into {@link TaskData.labels}. */
  label: number;
}

/** One example of a task that classifies a pair of texts (clone detection, code search). */
export interface PairExample {
  id: string;
  text: string;
  textPair: string;
  label: number;
}

/** One example of a generation task. */
export interface GenerationExample {
  id: string;
  source: string;
  target: string;
}

/** Any task example. */
export type TaskExample = ClassificationExample | PairExample | GenerationExample;

/** A task's examples per split, with the label set used to number the classes. */
export interface TaskData<E extends TaskExample = TaskExample> {
  task: TaskDefinition;
  /** Class names by label id; empty for generation tasks. */
  labels: string[];
  splits: Partial<Record<SplitName, E[]>>;
}
