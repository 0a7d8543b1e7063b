export { createFinetuneCommand, formatFinetuneSummary } from './finetune-command';
export { createModularizeCommand, formatModularizeSummary, type WorkflowCommandOptions } from './modularize-command';
