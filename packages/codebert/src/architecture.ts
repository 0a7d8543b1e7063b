/**
 * CodeBERT behind the interface of the generic machinery; `--arch codebert` selects this object.
 */
import type { Architecture } from '@modularevo/masking';

import { readCodeSearchNetCorpus } from './corpus';
import { TASK_HEAD_PATTERN } from './heads';
import { CodeBertModel } from './model';
import { maskedLMObjective } from './objective';
import { tasks } from './tasks';

/**
 * The codebert architecture: RoBERTa checkpoints (`model_type` `roberta`), the masked-LM
 * objective, clone detection and code search. Task heads (`classifier.*`, `mlp.*`) match
 * {@link TASK_HEAD_PATTERN}, so masks and merges leave them out and each task keeps its own.
 * Modularization corpora in the CodeSearchNet layout are read per language (the domain).
 *
 * Under a module, the masked weights train where their mask is 1, and every base parameter
 * without a mask (embeddings, LayerNorms, the pooler) trains in full. ModularEvo's CodeBERT
 * `run_module.py` scripts for clone detection and code search do the same, because they multiply
 * only the gradients of parameters with a mask entry. Word embeddings train in full although the tied
 * `lm_head.decoder.weight` carries a mask, because that mask guides the masked-LM head, not the
 * encoder's input.
 */
export const architecture: Architecture = {
  name: 'codebert',
  modelTypes: ['roberta'],
  taskHeadPattern: TASK_HEAD_PATTERN,
  load: async (dir: string) => CodeBertModel.fromPretrained(dir),
  objective: maskedLMObjective as Architecture['objective'],
  tasks,
  moduleFineTuning: { trainUnmaskedParameters: true },
  readCorpus: readCodeSearchNetCorpus,
};
