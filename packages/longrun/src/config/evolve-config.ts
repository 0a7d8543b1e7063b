import type { SplitFiles } from '@modularevo/datasets';

import type { DataSettings, FinetuneSettings, MergeSettings, ModularizeSettings } from './settings';

/** A task as the user names it; unset fields take the task's defaults. */
export interface TaskEntry {
  name: string;
  /** Domain module for ModularEvo (default: the task's default domain). */
  domain?: string;
  /** Data file or folder, or the file of each split; unset for a built-in task. */
  source?: string | SplitFiles;
}

/** A domain as the user names it; an unset corpus means the built-in corpus of that name. */
export interface DomainEntry {
  name: string;
  corpus?: string;
}

/**
 * Settings of an evolution run as given by a configuration file or by flags, before defaults are
 * applied. Field names are those of `EvolveSettings`.
 */
export interface EvolveConfig {
  arch?: string;
  model?: string;
  out?: string;
  stages?: number;
  seed?: number;
  strategies?: string[];
  tasks?: TaskEntry[];
  domains?: DomainEntry[];
  modularize?: Partial<ModularizeSettings>;
  finetune?: Partial<FinetuneSettings>;
  data?: Partial<DataSettings>;
  merge?: Partial<MergeSettings>;
  evalBatchSize?: number;
}

/**
 * Layers `override` over `base`: scalars and sections field by field, tasks and domains by name
 * (the fields an entry of `override` sets replace those of the entry of `base` with that name).
 */
export function mergeEvolveConfigs(base: EvolveConfig, override: EvolveConfig): EvolveConfig {
  const merged: EvolveConfig = { ...base, ...definedFields(override) };
  for (const section of ['modularize', 'finetune', 'data', 'merge'] as const) {
    merged[section] = { ...base[section], ...definedFields(override[section] ?? {}) } as never;
  }
  merged.tasks = mergeByName(base.tasks, override.tasks);
  merged.domains = mergeByName(base.domains, override.domains);
  return merged;
}

function mergeByName<T extends { name: string }>(base: T[] | undefined, override: T[] | undefined): T[] | undefined {
  if (!override) return base;
  const merged = new Map((base ?? []).map((entry) => [entry.name, entry]));
  for (const entry of override) merged.set(entry.name, { ...merged.get(entry.name), ...definedFields(entry) } as T);
  return [...merged.values()];
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
