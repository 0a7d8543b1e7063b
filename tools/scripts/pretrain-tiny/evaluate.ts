/**
 * Test perplexity of the model per built-in domain and over all of them, on fixed-length
 * blocks of the test splits.
 */
import { evaluatePerplexity, type GPTNeoForCausalLM, type PerplexityResult } from '@modularevo/gptneo';

import { evaluationBatches, type DomainBlocks } from './data';

/** Perplexity per domain and over every scored token. */
export interface DomainPerplexities {
  domains: Record<string, PerplexityResult>;
  /** Token-weighted over the domains: total cross-entropy over total target tokens. */
  overall: PerplexityResult;
}

/**
 * Evaluates the model on the test blocks of each domain, on every block or on `sample` blocks
 * per domain spread over the split.
 */
export function evaluateDomains(
  model: GPTNeoForCausalLM,
  test: readonly DomainBlocks[],
  blockSize: number,
  batchSize: number,
  sample?: number,
): DomainPerplexities {
  const domains: Record<string, PerplexityResult> = {};
  let totalLoss = 0;
  let totalTokens = 0;
  for (const blocks of test) {
    const result = evaluatePerplexity(model, evaluationBatches(blocks, blockSize, batchSize, sample));
    domains[blocks.domain] = result;
    totalLoss += result.loss * result.tokens;
    totalTokens += result.tokens;
  }

  const loss = totalLoss / totalTokens;
  return { domains, overall: { loss, perplexity: Math.exp(loss), tokens: totalTokens } };
}

/** Flattens perplexities into metric names for `metrics.jsonl` (`loss`, `perplexity`, `perplexity_math`, ...). */
export function perplexityMetrics(result: DomainPerplexities): Record<string, number> {
  const metrics: Record<string, number> = { loss: result.overall.loss, perplexity: result.overall.perplexity };
  for (const [domain, value] of Object.entries(result.domains)) metrics[`perplexity_${domain}`] = value.perplexity;
  return metrics;
}
