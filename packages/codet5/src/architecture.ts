/**
 * CodeT5 for the generic machinery (modularizer, fine-tuner, merger, evolution driver, cost
 * benchmark): loading a `T5ForConditionalGeneration` folder, the span-corruption objective, and
 * the summarize and concode tasks.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';
import { codeSearchNetLanguages, type CodeSearchNetSplit, type CorpusSplit } from '@modularevo/datasets';
import type { Architecture, CorpusReadOptions } from '@modularevo/masking';

import { readCodeSearchNetTexts } from './corpus';
import { CODET5_MODULE_FROZEN_PARAMETERS } from './module-base';
import { spanCorruptionObjective } from './objective';
import { CODET5_ARCHITECTURE, CodeT5PretrainedModel } from './pretrained-model';
import { createConcodeTask, createSummarizeTask } from './tasks';

/**
 * Pattern of task-head parameter names: one that matches no name. Summarize and concode are
 * generation tasks that train the model's own LM head, so no parameter is task-specific and
 * task vectors and merges cover every parameter. A head added later must get a name this
 * pattern matches (for example `classification_head.*`, with the pattern widened to it).
 */
export const CODET5_TASK_HEAD_PATTERN = '(?!)';

// CodeSearchNet calls the validation split `valid`.
const CODE_SEARCH_NET_SPLITS: Record<CorpusSplit, CodeSearchNetSplit> = { train: 'train', validation: 'valid', test: 'test' };

/**
 * Reads one split of a modularization corpus in the CodeSearchNet layout with
 * `readCodeSearchNetTexts`: the language `options.domain` under a CodeSearchNet root, or the
 * language folder `source` itself (`<source>/final/jsonl/`). Returns undefined for a source in
 * another layout, which the modularizer then reads as JSON lines.
 *
 * @throws InvalidInputError when the root has no folder for the domain (naming the languages it
 *   has) or the split has no function with code
 * @throws CheckpointError for missing split files or a malformed record
 */
export async function readCodeSearchNetCorpus(source: string, split: CorpusSplit, options: CorpusReadOptions): Promise<string[] | undefined> {
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) return undefined;
  const read = { split: CODE_SEARCH_NET_SPLITS[split], maxDocuments: options.maxDocuments };

  // the language folder itself
  if (fs.existsSync(path.join(source, 'final', 'jsonl'))) return readCodeSearchNetTexts(path.dirname(source), path.basename(source), read);

  // a root with one folder per language
  const languages = codeSearchNetLanguages(source);
  if (languages.length === 0) return undefined;
  if (!languages.includes(options.domain)) {
    throw new InvalidInputError(`The CodeSearchNet folder ${source} has no language "${options.domain}" (it has ${languages.join(', ')}); pass one of them as the domain`);
  }
  return readCodeSearchNetTexts(source, options.domain, read);
}

/** The CodeT5 architecture (`--arch codet5`). */
export const architecture: Architecture = {
  name: CODET5_ARCHITECTURE,
  modelTypes: ['t5'],
  taskHeadPattern: CODET5_TASK_HEAD_PATTERN,
  load: async (dir) => CodeT5PretrainedModel.load(dir),
  objective: spanCorruptionObjective,
  tasks: {
    summarize: createSummarizeTask(),
    concode: createConcodeTask(),
  },
  // as ModularEvo's run_gen_module.py: parameters without a mask train in full, the shared embedding never
  moduleFineTuning: { frozenParameters: CODET5_MODULE_FROZEN_PARAMETERS, trainUnmaskedParameters: true },
  // a CodeSearchNet folder is read per language (the domain), the rest as JSON lines
  readCorpus: readCodeSearchNetCorpus,
};
