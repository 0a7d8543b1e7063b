/**
 * Beam search as `transformers` 4.36.2 runs it (`BeamSearchScorer` and `BeamHypotheses`):
 * same candidate selection, finished-hypothesis bookkeeping, stopping rule and final scores.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { GenerationOutput, GenerationSettings } from './generation';
import type { T5ForConditionalGeneration } from './model';

/** Initial score of every beam but the first, so step one expands one beam only (as `transformers`). */
const INACTIVE_BEAM_SCORE = -1e9;

/** Tokens before the first generated one (the decoder start token). */
const PROMPT_LENGTH = 1;

interface Hypothesis {
  /** Length-normalised score. */
  score: number;
  /** Decoder start token and generated tokens, without the end token. */
  tokens: number[];
}

/** The best finished hypotheses of one input, at most `numBeams`. */
export class BeamHypotheses {
  readonly beams: Hypothesis[] = [];
  private worstScore = 1e9;

  constructor(
    private readonly numBeams: number,
    private readonly lengthPenalty: number,
    private readonly earlyStopping: boolean,
  ) {}

  /**
   * Offers a hypothesis with this log-probability sum and generated length (end token
   * included, start token excluded). It is kept when the list has room or it beats the worst.
   */
  add(tokens: number[], sumLogProbs: number, generatedLength: number): void {
    const score = sumLogProbs / generatedLength ** this.lengthPenalty;
    if (this.beams.length >= this.numBeams && score <= this.worstScore) return;

    this.beams.push({ score, tokens });
    if (this.beams.length <= this.numBeams) {
      this.worstScore = Math.min(score, this.worstScore);
      return;
    }

    // drop the worst (the earliest of equal scores), then the next worst bounds the list
    const order = this.beams.map((beam, index) => ({ score: beam.score, index })).sort((a, b) => a.score - b.score || a.index - b.index);
    this.beams.splice(order[0].index, 1);
    this.worstScore = order[1].score;
  }

  /**
   * Returns whether no running beam can beat the kept hypotheses. Without early stopping this
   * assumes the best running sum keeps its current length, as `transformers` does.
   *
   * @param currentLength - output length including the token being chosen
   */
  isDone(bestSumLogProbs: number, currentLength: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping) return true;
    const highestAttainable = bestSumLogProbs / (currentLength - PROMPT_LENGTH) ** this.lengthPenalty;
    return this.worstScore >= highestAttainable;
  }
}

/**
 * Keeps `numBeams` running hypotheses per input. At each step every beam proposes its
 * continuations, and the best `max(2, 1 + end tokens) * numBeams` candidates by log-probability
 * sum fill the next beams. Candidates that end with an end token become finished hypotheses
 * when they rank among the first `numBeams`. Outputs are ranked by sum / generated
 * length^lengthPenalty.
 *
 * @param encoded - `[batch, source, d_model]` encoder output
 */
export function beamSearch(
  model: T5ForConditionalGeneration,
  encoded: tf.Tensor3D,
  attentionMask: tf.Tensor2D,
  settings: GenerationSettings,
): GenerationOutput {
  const { batch, numBeams, maxNewTokens, eosTokenIds, padTokenId, decoderStartTokenId } = settings;
  const rows = batch * numBeams;
  const vocab = model.config.vocab_size;
  const candidates = Math.max(2, 1 + eosTokenIds.length) * numBeams;
  const maxLength = PROMPT_LENGTH + maxNewTokens;

  // every input repeated once per beam
  const repeat = Int32Array.from({ length: rows }, (_, row) => Math.floor(row / numBeams));
  const index = tf.tensor1d(repeat, 'int32');
  const beamEncoded = tf.gather(encoded, index); // [batch * beams, source, d_model]
  const beamMask = tf.gather(attentionMask, index); // [batch * beams, source]
  const state = model.startDecoding(beamEncoded, beamMask, { linear: settings.linear });
  tf.dispose([index, beamEncoded, beamMask]);

  const hypotheses = Array.from({ length: batch }, () => new BeamHypotheses(numBeams, settings.lengthPenalty, settings.earlyStopping));
  const done = new Array<boolean>(batch).fill(false);
  let sequences = Array.from({ length: rows }, () => [decoderStartTokenId]);
  let beamScores = Float32Array.from({ length: rows }, (_, row) => (row % numBeams === 0 ? 0 : INACTIVE_BEAM_SCORE));
  let tokens = new Int32Array(rows).fill(decoderStartTokenId);

  try {
    for (let step = 1; step <= maxNewTokens; step++) {
      const currentLength = sequences[0].length + 1;

      // best candidates over all beams of each input, by log-probability sum
      const logits = model.decodeStep(state, tokens, { linear: settings.decodeLinear }); // [batch * beams, vocab]
      const { values, indices } = topCandidates(logits, beamScores, batch, numBeams * vocab, candidates);
      logits.dispose();

      // next beams and finished hypotheses
      const next = { scores: new Float32Array(rows), tokens: new Int32Array(rows), rows: new Int32Array(rows) };
      for (let input = 0; input < batch; input++) {
        const offset = input * numBeams;
        if (done[input]) {
          next.tokens.fill(padTokenId, offset, offset + numBeams);
          next.rows.fill(offset, offset, offset + numBeams);
          continue;
        }

        let filled = 0;
        for (let rank = 0; rank < candidates && filled < numBeams; rank++) {
          const flat = indices[input * candidates + rank];
          const score = values[input * candidates + rank];
          const row = offset + Math.floor(flat / vocab);
          const token = flat % vocab;
          if (eosTokenIds.includes(token)) {
            if (rank < numBeams) hypotheses[input].add(sequences[row], score, currentLength - PROMPT_LENGTH);
            continue;
          }
          next.scores[offset + filled] = score;
          next.tokens[offset + filled] = token;
          next.rows[offset + filled] = row;
          filled++;
        }
        done[input] = hypotheses[input].isDone(values[input * candidates], currentLength);
      }

      // move the surviving beams forward
      sequences = Array.from(next.rows, (row, i) => [...sequences[row], next.tokens[i]]);
      model.reorderDecoding(state, next.rows);
      beamScores = next.scores;
      tokens = next.tokens;

      settings.onStep?.(step, maxNewTokens);
      if (!done.includes(false)) break;
    }
  } finally {
    model.disposeDecoding(state);
  }

  return finalize(hypotheses, done, sequences, beamScores, settings, maxLength);
}

/**
 * Returns the `count` best (row, token) continuations of each input, scored by the beam's sum
 * plus the token's log-probability in float32, best first.
 */
function topCandidates(
  logits: tf.Tensor2D,
  beamScores: Float32Array,
  batch: number,
  width: number,
  count: number,
): { values: Float32Array; indices: Int32Array } {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits, -1); // [batch * beams, vocab]
    const sums = tf.add(logProbs, tf.tensor2d(beamScores, [beamScores.length, 1])); // [batch * beams, vocab]
    const { values, indices } = tf.topk(tf.reshape(sums, [batch, width]), count); // [batch, count]
    return { values: values.dataSync() as Float32Array, indices: indices.dataSync() as Int32Array };
  });
}

/** Adds the running beams of unfinished inputs as hypotheses, then lays out the best ones. */
function finalize(
  hypotheses: BeamHypotheses[],
  done: boolean[],
  sequences: number[][],
  beamScores: Float32Array,
  settings: GenerationSettings,
  maxLength: number,
): GenerationOutput {
  const { numBeams, numReturnSequences, eosTokenIds, padTokenId } = settings;

  // running beams compete with the finished ones
  hypotheses.forEach((hypothesis, input) => {
    if (done[input]) return;
    for (let beam = 0; beam < numBeams; beam++) {
      const row = input * numBeams + beam;
      hypothesis.add(sequences[row], beamScores[row], sequences[row].length - PROMPT_LENGTH);
    }
  });

  // best first; among equal scores the later one, as transformers pops a stable ascending sort
  const best: Hypothesis[] = [];
  for (const hypothesis of hypotheses) {
    const ascending = hypothesis.beams.map((beam, index) => ({ beam, index })).sort((a, b) => a.beam.score - b.beam.score || a.index - b.index);
    for (let j = 0; j < numReturnSequences; j++) best.push(ascending.pop()!.beam);
  }

  // one length for all rows: an end token follows each hypothesis where it fits, then padding
  const width = Math.min(Math.max(...best.map((hypothesis) => hypothesis.tokens.length)) + 1, maxLength);
  const rows = best.map(({ tokens }) => {
    const row = [...tokens];
    if (row.length < width) row.push(eosTokenIds[0]);
    while (row.length < width) row.push(padTokenId);
    return row;
  });
  return { sequences: rows, sequencesScores: best.map((hypothesis) => Math.fround(hypothesis.score)) };
}
