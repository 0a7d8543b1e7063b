/**
 * What every step of a run shares, and where each step's outputs live in the run folder:
 * `steps/<step id>/` (for example `steps/stage-1/finetune/ties/full/langid/`).
 */
import * as fs from 'fs';
import * as path from 'path';

import type { Rng } from '@modularevo/core-tensor';
import type { Architecture } from '@modularevo/masking';

import type { EvolveSettings } from '../config/settings';
import type { StrategyName } from '../config/strategies';
import type { RunLog } from './run-log';
import type { PreparedTask } from './task-data';

/** Shared state of a running evolution. */
export interface RunContext {
  architecture: Architecture;
  settings: EvolveSettings;
  tasks: PreparedTask[];
  /** Root random stream; steps fork it by purpose. */
  rng: Rng;
  runLog: RunLog;
  /** Draw progress bars for long steps. */
  progress: boolean;
}

/** Returns the output folder of a step. */
export function stepDir(settings: EvolveSettings, id: string): string {
  return path.join(settings.out, 'steps', ...id.split('/'));
}

/** Returns the module folder of a finished module step: its threshold snapshot, or its final module when the threshold was not reached. */
export function moduleFolder(settings: EvolveSettings, stage: number, source: 'base' | StrategyName, domain: string): string {
  const modules = path.join(stepDir(settings, `stage-${stage}/module/${source}/${domain}`), 'modules');
  const snapshot = path.join(modules, `wrr_${settings.modularize.threshold}`);
  return fs.existsSync(snapshot) ? snapshot : path.join(modules, 'final');
}

/** Returns the folder of a task's composed model after a strategy's composition in `stage`. */
export function composedModelFolder(settings: EvolveSettings, stage: number, strategy: StrategyName, task: string): string {
  return path.join(stepDir(settings, `stage-${stage}/compose/${strategy}`), 'models', task);
}

/** Returns the folder of a fine-tuned task model written by a fine-tuning step. */
export function fineTunedModelFolder(settings: EvolveSettings, finetuneStepId: string): string {
  return path.join(stepDir(settings, finetuneStepId), 'model');
}
