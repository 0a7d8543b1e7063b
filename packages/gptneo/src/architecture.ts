/**
 * GPT-Neo for the generic machinery (modularizer, fine-tuner, merger, evolution driver, cost
 * benchmark); `--arch gptneo` selects this object.
 */
import type { Architecture } from '@modularevo/masking';

import { TASK_HEAD_PATTERN } from './heads';
import { GPTNEO_ARCHITECTURE, GPTNeoForCausalLM } from './model';
import { causalLM } from './modularization-objective';
import { GPTNEO_TASKS } from './tasks';

/**
 * The GPT-Neo architecture: `GPTNeoForCausalLM` folders (`model_type` `gpt_neo`), causal
 * language modelling as the modularization objective, and the classification tasks. Task heads
 * (`classification_head.*`) match `.*classification.*`, so masks and merges leave them out.
 * Under a module only the masked weights train, as ModularEvo's GPT-Neo `--use_mask` scripts
 * train them; embeddings and layer norms stay frozen.
 */
export const architecture: Architecture = {
  name: GPTNEO_ARCHITECTURE,
  modelTypes: ['gpt_neo'],
  taskHeadPattern: TASK_HEAD_PATTERN,
  load: async (dir) => GPTNeoForCausalLM.fromPretrained(dir),
  objective: causalLM as Architecture['objective'],
  tasks: GPTNEO_TASKS,
  moduleFineTuning: { trainUnmaskedParameters: false },
};
