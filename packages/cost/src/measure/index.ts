export * from './measure-cost';
export * from './timing';
export { TASK_FILE } from './task-model';
