/**
 * CodeBERT behind the interface of the generic machinery; `--arch codebert` selects this object.
 */
import type { Architecture } from '@modularevo/masking';

import { TASK_HEAD_PATTERN } from './heads';
import { CodeBertModel } from './model';
import { maskedLMObjective } from './objective';
import { tasks } from './tasks';

/** The CodeBERT architecture with how mask-guided fine-tuning treats parameters outside a module. */
export interface CodeBertArchitecture extends Architecture {
  /**
   * Base parameters without a mask (embeddings, LayerNorms, the pooler) train in full, as
   * ModularEvo's CodeBERT `run_module.py` scripts train them: they multiply only the gradients of
   * masked parameters.
   */
  readonly moduleFineTuning: { trainUnmaskedParameters: boolean };
}

/** The codebert architecture: RoBERTa checkpoints, the masked-LM objective, clone detection and code search. */
export const architecture: CodeBertArchitecture = {
  name: 'codebert',
  modelTypes: ['roberta'],
  taskHeadPattern: TASK_HEAD_PATTERN,
  load: async (dir: string) => CodeBertModel.fromPretrained(dir),
  objective: maskedLMObjective as Architecture['objective'],
  tasks,
  moduleFineTuning: { trainUnmaskedParameters: true },
};
