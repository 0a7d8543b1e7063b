/**
 * Text generation with a T5 model: greedy search and beam search, batched, decoding one token
 * per step with cached keys and values. Results match `transformers` `generate()` (4.36.2)
 * with `do_sample=False`.
 */
import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, type LinearFn } from '@modularevo/core-tensor';

import { beamSearch } from './beam-search';
import { decodeStepLinear } from './decode-linear';
import type { DecoderState, T5ForConditionalGeneration } from './model';

/** Options of {@link generate}; names follow `transformers` `GenerationConfig` in camelCase. */
export interface GenerationOptions {
  /** 1 for real source tokens, 0 for padding; by default 0 exactly where the id is `pad_token_id`. */
  attentionMask?: number[][];
  /** Tokens to generate at most, after the decoder start token. */
  maxNewTokens?: number;
  /** Length limit of the output rows, counting the decoder start token (default 20, as `transformers`). */
  maxLength?: number;
  /** Beams per input; 1 runs greedy search (default 1). */
  numBeams?: number;
  /** Exponent of the length a beam's log-probability sum is divided by (default 1.0). */
  lengthPenalty?: number;
  /** Stop a beam search input as soon as it has `numBeams` finished hypotheses (default false). */
  earlyStopping?: boolean;
  /** Best hypotheses returned per input, at most `numBeams` (default 1). */
  numReturnSequences?: number;
  /** Token ids that end a sequence (default the config's `eos_token_id`). */
  eosTokenId?: number | number[];
  /** Token appended to finished rows (default the config's `pad_token_id`). */
  padTokenId?: number;
  /** First decoder token (default the config's `decoder_start_token_id`). */
  decoderStartTokenId?: number;
  /** Return the next-token logits of every greedy step. */
  outputScores?: boolean;
  /** Replaces how linear layers compute (masked or sparse weights). */
  linear?: LinearFn;
  /** Called after each generated token with the number generated so far and the limit. */
  onStep?: (step: number, maxNewTokens: number) => void;
}

/** Result of {@link generate}. */
export interface GenerationOutput {
  /**
   * Token ids per output row, each starting with the decoder start token; rows of one call have
   * equal length (finished rows are padded). Beam search returns `numReturnSequences` rows per
   * input, best first.
   */
  sequences: number[][];
  /** Greedy search with `outputScores`: one `[batch * vocab_size]` row-major array of logits per step. */
  scores?: Float32Array[];
  /** Beam search: each row's log-probability sum divided by its generated length to the power `lengthPenalty`. */
  sequencesScores?: number[];
}

/** Settings of one generation call after defaults and checks. */
export interface GenerationSettings {
  batch: number;
  maxNewTokens: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean;
  numReturnSequences: number;
  eosTokenIds: number[];
  padTokenId: number;
  decoderStartTokenId: number;
  outputScores: boolean;
  /** Linear function of the encoder and of the cross-attention keys and values (default `linear`). */
  linear?: LinearFn;
  /** Linear function of decode steps: the caller's, or the fastest dense one on this backend. */
  decodeLinear: LinearFn;
  onStep?: (step: number, maxNewTokens: number) => void;
}

/** `transformers`' default `max_length`. */
const DEFAULT_MAX_LENGTH = 20;

/**
 * Generates output sequences for a batch of source sequences, by greedy search (`numBeams` 1)
 * or beam search. Every step's tensors are released before the next one.
 *
 * @param inputIds - source token ids, `[batch][source]`, rectangular (pad shorter rows)
 * @throws InvalidInputError for an empty batch or row, ragged rows, ids out of range, or an
 *   invalid option (beam count, length limits, return count, token ids)
 */
export function generate(model: T5ForConditionalGeneration, inputIds: number[][], options: GenerationOptions = {}): GenerationOutput {
  const settings = resolveSettings(model, inputIds, options);
  const mask = options.attentionMask ?? inputIds.map((row) => row.map((id) => (id === model.config.pad_token_id ? 0 : 1)));
  checkMask(mask, inputIds);

  // encode once
  const ids = tf.tensor2d(inputIds, undefined, 'int32');
  const maskTensor = tf.tensor2d(mask, undefined, 'int32');
  let encoded: tf.Tensor3D | undefined;
  try {
    encoded = model.encode(ids, maskTensor, { linear: settings.linear });
    return settings.numBeams === 1
      ? greedySearch(model, encoded, maskTensor, settings)
      : beamSearch(model, encoded, maskTensor, settings);
  } finally {
    tf.dispose([ids, maskTensor]);
    encoded?.dispose();
  }
}

/**
 * Picks the most likely token at every step. A row that produced an end token gets
 * `padTokenId` from then on; the search stops when every row has ended or after
 * `maxNewTokens` tokens.
 *
 * @param encoded - `[batch, source, d_model]` encoder output
 */
export function greedySearch(
  model: T5ForConditionalGeneration,
  encoded: tf.Tensor3D,
  attentionMask: tf.Tensor2D,
  settings: GenerationSettings,
): GenerationOutput {
  const { batch, maxNewTokens, eosTokenIds, padTokenId, decoderStartTokenId } = settings;
  const sequences = Array.from({ length: batch }, () => [decoderStartTokenId]);
  const scores: Float32Array[] = [];
  const unfinished = new Array<boolean>(batch).fill(true);
  let tokens = new Int32Array(batch).fill(decoderStartTokenId);

  const state: DecoderState = model.startDecoding(encoded, attentionMask, { linear: settings.linear });
  try {
    for (let step = 1; step <= maxNewTokens; step++) {
      // next-token logits and their argmax
      const logits = model.decodeStep(state, tokens, { linear: settings.decodeLinear }); // [batch, vocab]
      if (settings.outputScores) scores.push(new Float32Array(logits.dataSync()));
      const best = tf.tidy(() => tf.argMax(logits, -1).dataSync() as Int32Array); // [batch]
      logits.dispose();

      // finished rows get padding
      tokens = new Int32Array(batch);
      for (let row = 0; row < batch; row++) {
        tokens[row] = unfinished[row] ? best[row] : padTokenId;
        sequences[row].push(tokens[row]);
        if (eosTokenIds.includes(tokens[row])) unfinished[row] = false;
      }

      settings.onStep?.(step, maxNewTokens);
      if (!unfinished.includes(true)) break;
    }
  } finally {
    model.disposeDecoding(state);
  }
  return settings.outputScores ? { sequences, scores } : { sequences };
}

/** Applies defaults and checks every option and the ids. */
function resolveSettings(model: T5ForConditionalGeneration, inputIds: number[][], options: GenerationOptions): GenerationSettings {
  const config = model.config;
  checkInputIds(inputIds, config.vocab_size);

  // length limit
  if (options.maxNewTokens !== undefined && options.maxLength !== undefined) {
    throw new InvalidInputError('Give maxNewTokens or maxLength, not both');
  }
  if (options.maxLength !== undefined) {
    positiveInteger('maxLength', options.maxLength);
    if (options.maxLength < 2) {
      throw new InvalidInputError('maxLength counts the decoder start token, so it must be at least 2 to generate a token');
    }
  }
  const maxNewTokens = options.maxNewTokens ?? (options.maxLength ?? DEFAULT_MAX_LENGTH) - 1;
  positiveInteger('maxNewTokens', maxNewTokens);

  // beams
  const numBeams = options.numBeams ?? 1;
  positiveInteger('numBeams', numBeams);
  const numReturnSequences = options.numReturnSequences ?? 1;
  positiveInteger('numReturnSequences', numReturnSequences);
  if (numReturnSequences > numBeams) {
    throw new InvalidInputError(`numReturnSequences (${numReturnSequences}) must not exceed numBeams (${numBeams})`);
  }
  const lengthPenalty = options.lengthPenalty ?? 1.0;
  if (!Number.isFinite(lengthPenalty)) throw new InvalidInputError(`lengthPenalty must be a finite number, not ${lengthPenalty}`);
  if (options.outputScores && numBeams > 1) throw new InvalidInputError('outputScores is available for greedy search (numBeams 1) only');

  // special tokens
  const eos = options.eosTokenId ?? config.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos : [eos];
  for (const id of eosTokenIds) tokenId('eosTokenId', id, config.vocab_size);
  const padTokenId = tokenId('padTokenId', options.padTokenId ?? config.pad_token_id, config.vocab_size);
  const decoderStartTokenId = tokenId(
    'decoderStartTokenId',
    options.decoderStartTokenId ?? model.decoderStartTokenId(),
    config.vocab_size,
  );

  return {
    batch: inputIds.length,
    maxNewTokens,
    numBeams,
    lengthPenalty,
    earlyStopping: options.earlyStopping ?? false,
    numReturnSequences,
    eosTokenIds,
    padTokenId,
    decoderStartTokenId,
    outputScores: options.outputScores ?? false,
    linear: options.linear,
    decodeLinear: options.linear ?? decodeStepLinear(),
    onStep: options.onStep,
  };
}

function checkInputIds(inputIds: number[][], vocabSize: number): void {
  if (!Array.isArray(inputIds) || inputIds.length === 0) throw new InvalidInputError('inputIds is empty; give at least one source sequence');
  const length = inputIds[0].length;
  inputIds.forEach((row, i) => {
    if (!Array.isArray(row) || row.length === 0) throw new InvalidInputError(`inputIds[${i}] is an empty source; give at least one token`);
    if (row.length !== length) {
      throw new InvalidInputError(`inputIds rows differ in length (${length} and ${row.length} at row ${i}); pad them and pass an attentionMask`);
    }
    row.forEach((id, j) => tokenId(`inputIds[${i}][${j}]`, id, vocabSize));
  });
}

function checkMask(mask: number[][], inputIds: number[][]): void {
  const matches = mask.length === inputIds.length && mask.every((row, i) => row.length === inputIds[i].length);
  if (!matches) throw new InvalidInputError('attentionMask must have the shape of inputIds');
  if (!mask.every((row) => row.every((value) => value === 0 || value === 1))) {
    throw new InvalidInputError('attentionMask must hold only 0 and 1');
  }
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${name} must be a positive integer, not ${value}`);
}

function tokenId(name: string, value: number, vocabSize: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value >= vocabSize) {
    throw new InvalidInputError(`${name} is ${value}, but must be a token id in [0, ${vocabSize})`);
  }
  return value;
}
