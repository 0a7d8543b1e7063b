export { createProgram, main } from './cli/main';
export { createEvolveCommand, formatFinalScores } from './cli/evolve-command';
export { createReportCommand } from './cli/report-command';
export { parseCoefficients, parseDomainSpec, parseTaskDomain, parseTaskSpec } from './cli/specs';

export { configDocument, parseConfigDocument, readConfigFile } from './config/config-file';
export { BUILTIN_DEFAULTS, BUILTIN_RUN_TASKS, PAPER_DEFAULTS, type DefaultSettings } from './config/defaults';
export { mergeEvolveConfigs, type DomainEntry, type EvolveConfig, type TaskEntry } from './config/evolve-config';
export { defaultRunFolder, resolveSettings, usesBuiltinDefaults, type TaskCatalog } from './config/resolve';
export type { DataSettings, DomainSettings, EvolveSettings, FinetuneSettings, MergeSettings, ModularizeSettings, TaskSettings } from './config/settings';
export { DEFAULT_STRATEGIES, STRATEGIES, STRATEGY_NAMES, parseStrategies, type FinetuneMode, type Strategy, type StrategyName } from './config/strategies';

export { evolve, type EvolveHooks, type EvolveOptions, type EvolveResult } from './evolve/evolve';
export { planRun, type ComposeStep, type FinetuneStep, type ModuleStep, type OverlapStep, type PlanStep } from './evolve/plan';
export { readRunState, STATE_FILE, type FinishedStep, type RunState } from './evolve/run-state';

export { buildCharts, renderSvg, type Chart } from './report/charts';
export { formatMarkdownReport } from './report/markdown';
export { readRunRecords, RECORD_KINDS, type RunRecord } from './report/records';
export { buildSummary, SUMMARY_FORMAT, type EvolveSummary, type GainSummary, type ModuleSummary, type SummaryPlan } from './report/summary';
export { CHARTS_DIR, REPORT_FILE, SUMMARY_FILE, writeReport, type ReportOutput } from './report/write-report';
