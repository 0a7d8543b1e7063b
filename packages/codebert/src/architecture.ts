/**
 * CodeBERT behind the interface of the generic machinery; `--arch codebert` selects this object.
 */
import type { Architecture } from '@modularevo/masking';

import { TASK_HEAD_PATTERN } from './heads';
import { CodeBertModel } from './model';
import { maskedLMObjective } from './objective';
import { tasks } from './tasks';

/** The codebert architecture: RoBERTa checkpoints, the masked-LM objective, clone detection and code search. */
export const architecture: Architecture = {
  name: 'codebert',
  modelTypes: ['roberta'],
  taskHeadPattern: TASK_HEAD_PATTERN,
  load: async (dir: string) => CodeBertModel.fromPretrained(dir),
  objective: maskedLMObjective as Architecture['objective'],
  tasks,
};
