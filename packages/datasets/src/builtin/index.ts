export {
  BUILTIN_DOMAIN_INFO,
  BUILTIN_DOMAINS,
  BUILTIN_TASK_INFO,
  BUILTIN_TASKS,
  type BuiltinDomain,
  type BuiltinDomainInfo,
  type BuiltinTask,
  type BuiltinTaskInfo,
} from './catalog';
export { generateMathProblems, MATH_MODULES, Rational, type MathCheck, type MathModule, type MathProblem, type MathProblemOptions } from './math';
export {
  builtinCorpus,
  builtinTask,
  readBuiltinManifest,
  readBuiltinTask,
  type BuiltinCorpus,
  type BuiltinCorpusSplit,
  type BuiltinManifest,
  type BuiltinTaskData,
  type BuiltinTaskFiles,
} from './manifest';
export { BUILTIN_DATA_ENV, BUILTIN_MODEL_FOLDER, builtinDataDir, builtinModelDir } from './paths';
