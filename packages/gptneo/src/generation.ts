/**
 * Greedy decoding, as `model.generate(do_sample=False, num_beams=1)` of `transformers` does it.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError } from '@modularevo/core-tensor';

import type { GPTNeoForCausalLM } from './model';

/** Options of {@link greedyGenerate}. */
export interface GreedyOptions {
  /** Number of tokens to append at most. */
  maxNewTokens: number;
  /** A row stops after producing this id; defaults to the config's `eos_token_id`. */
  eosTokenId?: number | null;
  /** Appended to rows that have stopped while others go on; defaults to the eos id, as `transformers` does. */
  padTokenId?: number;
}

/**
 * Extends each prompt (all of the same length, no padding) with the most likely next token until
 * every row produced `eosTokenId` or `maxNewTokens` were added. Returns prompt plus new tokens.
 *
 * NOTE: every step re-runs the whole prefix because there is no key/value cache, so the cost
 * grows with the square of the output length. Long outputs are slow.
 *
 * @throws InvalidInputError when prompts differ in length or the output would exceed
 *   max_position_embeddings.
 */
export function greedyGenerate(model: GPTNeoForCausalLM, prompts: number[][], options: GreedyOptions): number[][] {
  const eos = options.eosTokenId === undefined ? model.config.eos_token_id : options.eosTokenId;
  const pad = options.padTokenId ?? eos ?? 0;
  const length = prompts[0]?.length ?? 0;
  if (prompts.some((prompt) => prompt.length !== length) || length === 0) {
    throw new InvalidInputError('greedyGenerate needs non-empty prompts of equal length (it does not handle padding)');
  }
  if (length + options.maxNewTokens > model.config.max_position_embeddings) {
    throw new InvalidInputError(
      `Prompt length ${length} plus ${options.maxNewTokens} new tokens exceeds max_position_embeddings ` +
        `${model.config.max_position_embeddings}; lower maxNewTokens`,
    );
  }

  const sequences = prompts.map((prompt) => [...prompt]);
  const finished = prompts.map(() => false);
  for (let step = 0; step < options.maxNewTokens && !finished.every(Boolean); step++) {
    const next = tf.tidy(() => {
      const { lastHiddenState } = model.transformer({ inputIds: sequences });
      const last = tf.slice(lastHiddenState, [0, lastHiddenState.shape[1] - 1, 0], [-1, 1, -1]); // [batch, 1, hidden]
      return tf.argMax(tf.squeeze(model.lmHead(last), [1]), -1); // [batch, vocab] -> [batch]
    });
    const ids = Array.from(next.dataSync());
    next.dispose();

    ids.forEach((id, row) => {
      sequences[row].push(finished[row] ? pad : id);
      if (id === eos) finished[row] = true;
    });
  }
  return sequences;
}
