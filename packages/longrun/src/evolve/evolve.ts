/**
 * The evolution driver: learn the domain modules, then in every stage fine-tune each task from
 * each strategy's current model and compose the fine-tuned models into the strategy's next
 * model, scoring every task on its test split after every stage. The run folder receives the
 * resolved configuration, every metric as JSON lines, the run state, and at the end the summary,
 * the report and its charts.
 */
import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';
import { createRng, getLogger, initBackend, InvalidInputError, RUN_CONFIG_FILE, writeJsonAtomic } from '@modularevo/core-tensor';
import { loadArchitecture, type Architecture } from '@modularevo/masking';

import { configDocument, readConfigFile } from '../config/config-file';
import { mergeEvolveConfigs, type EvolveConfig } from '../config/evolve-config';
import { resolveSettings } from '../config/resolve';
import type { EvolveSettings } from '../config/settings';
import type { EvolveSummary } from '../report/summary';
import { writeReport } from '../report/write-report';
import { runComposeStep } from './compose-step';
import { stepDir, type RunContext } from './context';
import { prepareInputs } from './inputs';
import { runFinetuneStep } from './finetune-step';
import { runModuleStep, runOverlapStep } from './module-step';
import { planRun, type PlanStep } from './plan';
import { RunLog } from './run-log';
import { RunProgress } from './run-progress';
import { emptyRunState, metricsLength, readRunState, truncateMetrics, writeRunState, type RunState } from './run-state';

const log = getLogger('longrun');

/** Calls a test or a caller may use to watch a run or stop it at a chosen point. */
export interface EvolveHooks {
  /** Called when a step's work is done, before the run state records it; throwing here leaves the step unfinished. */
  beforeRecord?(stepId: string): void | Promise<void>;
  /** Called after the run state records a step; throwing here stops the run after that step. */
  afterRecord?(stepId: string): void | Promise<void>;
}

/** Options of {@link evolve}. */
export interface EvolveOptions {
  /** Settings from a configuration file and flags, before defaults. */
  config?: EvolveConfig;
  /** Continue the run in `config.out` from its last finished step. */
  resume?: boolean;
  /** Keep every fine-tuned and composed model, not only the last stage's composed models (default false). */
  keepModels?: boolean;
  /** Draw progress bars for long steps (default true). */
  progress?: boolean;
  hooks?: EvolveHooks;
}

/** Result of {@link evolve}. */
export interface EvolveResult {
  settings: EvolveSettings;
  summary: EvolveSummary;
  /** Path of `report.md`. */
  report: string;
}

/**
 * Runs (or, with `resume`, continues) an evolution. Every input is read and checked before any
 * training starts.
 *
 * @throws InvalidInputError for invalid settings or unusable data, CheckpointError for missing or
 *   malformed files, MismatchError for a model of another architecture; all before training
 */
export async function evolve(options: EvolveOptions = {}): Promise<EvolveResult> {
  await initBackend();
  const resume = options.resume ?? false;
  const { settings, architecture } = resolveRun(options.config ?? {}, resume);
  checkRunFolder(settings.out, resume);

  // every input, before anything is written
  const rng = createRng(settings.seed);
  const tasks = await prepareInputs(architecture, settings, rng);
  const steps = planRun(settings);
  log.info(
    `evolve: ${settings.stages} stages, tasks ${settings.tasks.map((task) => `${task.name} (${task.domain})`).join(', ')}, ` +
      `strategies ${settings.strategies.join(', ')}, ${steps.length} steps, run folder ${settings.out}`,
  );

  // the run folder
  let state: RunState;
  if (resume) {
    state = readRunState(settings.out);
    truncateMetrics(settings.out, state);
    log.info(`resuming after ${state.finished.length} of ${steps.length} finished steps`);
  } else {
    fs.mkdirSync(settings.out, { recursive: true });
    writeJsonAtomic(path.join(settings.out, RUN_CONFIG_FILE), configDocument(settings));
    state = emptyRunState();
    writeRunState(settings.out, state);
  }

  const runLog = new RunLog(settings.out);
  try {
    const context: RunContext = { architecture, settings, tasks, rng, runLog, progress: options.progress ?? true };
    await runSteps(context, steps, state, options);
  } finally {
    runLog.close();
  }

  state.complete = true;
  writeRunState(settings.out, state);
  const output = await writeReport(settings.out);
  return { settings, summary: output.summary, report: output.report };
}

/** Runs every step the state does not record as finished, recording each as it ends. */
async function runSteps(context: RunContext, steps: PlanStep[], state: RunState, options: EvolveOptions): Promise<void> {
  const { settings, runLog } = context;
  const finished = new Set(state.finished.map((step) => step.id));
  const progress = new RunProgress(steps, new Set(finished));

  for (const [index, step] of steps.entries()) {
    if (finished.has(step.id)) continue;

    // an interrupted attempt may have left outputs; the step starts clean
    fs.rmSync(stepDir(settings, step.id), { recursive: true, force: true });
    runLog.step = index;
    progress.start(step);
    await runStep(context, step);
    await options.hooks?.beforeRecord?.(step.id);

    const seconds = progress.finish(step);
    state.finished.push({ id: step.id, seconds });
    state.metricsBytes = metricsLength(settings.out);
    writeRunState(settings.out, state);
    const memory = tf.memory();
    log.debug(`tfjs memory after ${step.id}: ${memory.numTensors} tensors, ${(memory.numBytes / 2 ** 20).toFixed(1)} MiB`);
    await options.hooks?.afterRecord?.(step.id);

    if (!options.keepModels && isLastComposeOfStage(steps, index)) removeStageModels(settings, step.stage);
  }
}

async function runStep(context: RunContext, step: PlanStep): Promise<void> {
  switch (step.kind) {
    case 'module':
      return runModuleStep(context, step);
    case 'overlap':
      return runOverlapStep(context, step);
    case 'finetune':
      return runFinetuneStep(context, step);
    case 'compose':
      return runComposeStep(context, step);
  }
}

/**
 * Resolves the settings. A resumed run takes them from its `config.json`; flags may repeat them
 * but not change them, because a changed setting would mix two runs in one folder.
 */
function resolveRun(config: EvolveConfig, resume: boolean): { settings: EvolveSettings; architecture: Architecture } {
  if (!resume) {
    const architecture = loadArchitecture(config.arch ?? 'gptneo');
    return { settings: resolveSettings(config, catalogOf(architecture)), architecture };
  }

  if (!config.out) throw new InvalidInputError('Nothing to resume: name the run folder with --out');
  const savedFile = path.join(path.resolve(config.out), RUN_CONFIG_FILE);
  if (!fs.existsSync(savedFile)) throw new InvalidInputError(`Cannot resume: ${config.out} has no ${RUN_CONFIG_FILE}, so it is not an evolution run folder`);
  const saved = readConfigFile(savedFile);
  const architecture = loadArchitecture(saved.arch ?? 'gptneo');
  const settings = resolveSettings(mergeEvolveConfigs(saved, config), catalogOf(architecture));

  const before = configDocument(resolveSettings(saved, catalogOf(architecture)));
  const after = configDocument(settings);
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      throw new InvalidInputError(
        `Cannot resume ${config.out}: setting ${key} is ${JSON.stringify(before[key])} in the run but ${JSON.stringify(after[key])} now; resume with --resume --out ${config.out} only`,
      );
    }
  }
  return { settings, architecture };
}

function catalogOf(architecture: Architecture) {
  return {
    name: architecture.name,
    defaultDomain: (task: string) => (Object.prototype.hasOwnProperty.call(architecture.tasks, task) ? architecture.tasks[task].info.defaultDomain : undefined),
    taskNames: () => Object.keys(architecture.tasks),
  };
}

function checkRunFolder(out: string, resume: boolean): void {
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new InvalidInputError(`The run folder ${out} is a file; choose a folder path with --out`);
  if (resume) return;
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0) {
    throw new InvalidInputError(`The run folder ${out} already exists and is not empty; continue it with --resume, or choose another folder with --out`);
  }
}

function isLastComposeOfStage(steps: PlanStep[], index: number): boolean {
  const step = steps[index];
  const next = steps[index + 1];
  return step.kind === 'compose' && !(next?.kind === 'compose' && next.stage === step.stage);
}

/**
 * Removes the models a finished stage no longer needs: its fine-tuned models (their scores are
 * logged) and the previous stage's composed models (this stage started from them).
 */
function removeStageModels(settings: EvolveSettings, stage: number): void {
  const finetuneDir = path.join(settings.out, 'steps', `stage-${stage}`, 'finetune');
  for (const dir of findFolders(finetuneDir, 'model')) fs.rmSync(dir, { recursive: true, force: true });
  if (stage > 0) {
    const composeDir = path.join(settings.out, 'steps', `stage-${stage - 1}`, 'compose');
    for (const dir of findFolders(composeDir, 'models')) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns every folder named `name` under `root`, not looking inside the ones found. */
function findFolders(root: string, name: string): string[] {
  if (!fs.existsSync(root)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const full = path.join(root, entry.name);
    if (entry.name === name) found.push(full);
    else found.push(...findFolders(full, name));
  }
  return found;
}
