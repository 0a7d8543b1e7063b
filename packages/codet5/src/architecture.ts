/**
 * CodeT5 for the generic machinery (modularizer, fine-tuner, merger, evolution driver, cost
 * benchmark): loading a `T5ForConditionalGeneration` folder, the span-corruption objective, and
 * the summarize and concode tasks.
 */
import type { Architecture } from '@modularevo/masking';

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
};
