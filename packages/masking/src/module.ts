/**
 * A module: binary masks over some parameters of one base model, learned on one domain.
 */
import { InvalidInputError, numel, type StateDict } from '@modularevo/core-tensor';

import { checkParametersInBase, type BaseModel, type BaseModelIdentity } from './base-model';
import { countRetained, packMask, type BinaryMask } from './bit-packing';
import type { MaskScores } from './scores';

/** A learned module held in memory. */
export interface Module {
  /** Domain whose corpus the masks were learned on, for example `math` or `law`. */
  domain: string;
  baseModel: BaseModelIdentity;
  /** Fraction of mask entries kept, over all masked parameters (0 to 1). */
  weightRetentionRate: number;
  /**
   * Retention-rate threshold at which this snapshot was taken (strictly between 0 and 1), or
   * undefined for a module saved at another point (for example the end of training).
   */
  threshold?: number;
  /** Settings of the run that learned the masks (learning rate, alpha, steps, seed, ...). */
  training: Record<string, unknown>;
  /**
   * Measurements of the module when it was saved, for example the language-modelling loss of
   * the module and of the unmasked model on the domain's test split.
   */
  evaluation?: Record<string, unknown>;
  /** Masks by Hugging Face parameter name, in module order (layer order, weight then bias). */
  masks: Map<string, BinaryMask>;
  /** Raw float32 scores, kept so training can resume; absent when not saved. */
  scores?: StateDict;
}

/** Options of `moduleFromScores`. */
export interface ModuleFromScoresOptions {
  base: BaseModel;
  domain: string;
  threshold?: number;
  training?: Record<string, unknown>;
  evaluation?: Record<string, unknown>;
  /** Keeps a copy of the raw scores in the module (default true). */
  keepScores?: boolean;
}

/**
 * Builds a module from the current scores: an entry is kept where its score is greater than 0.
 * Throws an InvalidInputError for an empty domain or a threshold outside (0, 1), and a
 * MismatchError when a masked parameter is missing from the base model or has another shape.
 */
export async function moduleFromScores(scores: MaskScores, options: ModuleFromScoresOptions): Promise<Module> {
  checkDomain(options.domain);
  if (options.threshold !== undefined) checkThreshold(options.threshold);
  checkParametersInBase('The mask scores', scores.parameters, options.base);

  const values = await scores.read();
  const masks = new Map<string, BinaryMask>();
  for (const [name, tensor] of values) masks.set(name, packMask(tensor.data as Float32Array, tensor.shape));

  return {
    domain: options.domain,
    baseModel: { config: options.base.config, weightsSha256: options.base.weightsSha256 },
    weightRetentionRate: retentionOf(masks).rate,
    threshold: options.threshold,
    training: options.training ?? {},
    evaluation: options.evaluation,
    masks,
    scores: options.keepScores === false ? undefined : values,
  };
}

/** Counts the kept entries of `masks` and their fraction of all entries (0 for no entries). */
export function retentionOf(masks: Iterable<BinaryMask> | Map<string, BinaryMask>): { retained: number; total: number; rate: number } {
  const list = masks instanceof Map ? [...masks.values()] : [...masks];
  let retained = 0;
  let total = 0;
  for (const mask of list) {
    retained += countRetained(mask);
    total += numel(mask.shape);
  }
  return { retained, total, rate: total === 0 ? 0 : retained / total };
}

/** Throws an InvalidInputError unless `threshold` lies strictly between 0 and 1. */
export function checkThreshold(threshold: number): void {
  if (!(typeof threshold === 'number' && threshold > 0 && threshold < 1)) {
    throw new InvalidInputError(
      `Invalid threshold ${threshold}: a snapshot threshold is a weight retention rate strictly between 0 and 1, for example 0.5`,
    );
  }
}

function checkDomain(domain: string): void {
  if (typeof domain !== 'string' || domain.trim() === '') {
    throw new InvalidInputError(`Invalid domain ${JSON.stringify(domain)}: name the corpus the module was learned on, for example "math"`);
  }
}
