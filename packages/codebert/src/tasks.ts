/**
 * The downstream tasks CodeBERT is fine-tuned on in ModularEvo, by the name `--task` takes.
 */
import type { ArchitectureTask } from '@modularevo/masking';

import { cloneTask } from './clone';
import { searchTask } from './search';

/** `clone` (BigCloneBench clone detection) and `search` (CoSQA code search). */
export const tasks: Readonly<Record<string, ArchitectureTask>> = {
  clone: cloneTask as ArchitectureTask,
  search: searchTask as ArchitectureTask,
};
