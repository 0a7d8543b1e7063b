/** The language-modelling loss of a model, with or without masks, on a prepared corpus. */
import { evaluateLoss, type LinearFn } from '@modularevo/core-tensor';

import type { ModularizationObjective, PreparedCorpus, PretrainedModel } from '../architecture';

/** Loss of the modularization objective on held-out blocks. */
export interface LanguageModelEvaluation {
  /** Mean loss per target (per block when the objective does not count targets), in nats. */
  loss: number;
  /** `exp(loss)`. */
  perplexity: number;
  /** Batches evaluated. */
  batches: number;
}

/**
 * Computes the objective's loss over every batch of `corpus` (its epoch-0 order), without
 * dropout and without gradients. `linear` applies masks; without it the dense model is scored.
 */
export async function evaluateLanguageModel(
  objective: ModularizationObjective,
  model: PretrainedModel,
  corpus: PreparedCorpus,
  linear?: LinearFn,
): Promise<LanguageModelEvaluation> {
  const weight = corpus.targetTokens ? (batch: unknown) => corpus.targetTokens!(batch) : undefined;
  const result = await evaluateLoss(corpus.batches(0), (batch) => objective.loss(model, batch, { linear }), { weight });
  return { loss: result.loss, perplexity: result.perplexity, batches: result.batches };
}
