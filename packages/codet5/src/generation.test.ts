import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, initBackend, setNativeGemmEnabled } from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture } from '@modularevo/test-support';

import { HIDDEN_TOLERANCE, readReferenceArrays, worstExcess, type T5Reference } from '../test/reference';
import { decodeStepLinear, weightFirstLinear } from './decode-linear';
import { generate, type GenerationOptions } from './generation';
import { denseLinear } from './layers';
import { T5ForConditionalGeneration } from './model';

const fixtures = modelFixturesOfType('t5').map(({ name, dir }) => [name, dir] as const);

beforeAll(async () => {
  await initBackend();
});

/** Cuts each row after its first `eos` and pads the rows to the longest, as greedy search outputs them. */
function stopAtEos(rows: number[][], eos: number, pad: number): number[][] {
  const cut = rows.map((row) => {
    const end = row.indexOf(eos, 1);
    return end < 0 ? row : row.slice(0, end + 1);
  });
  const width = Math.max(...cut.map((row) => row.length));
  return cut.map((row) => [...row, ...new Array<number>(width - row.length).fill(pad)]);
}

/**
 * Scores `sequence` by teacher forcing: the sum of the log-probabilities of its generated tokens
 * (through the first end token) divided by their count to the power `lengthPenalty`.
 */
function teacherForcedScore(
  model: T5ForConditionalGeneration,
  source: number[],
  mask: number[],
  sequence: number[],
  eos: number,
  lengthPenalty: number,
): number {
  const end = sequence.indexOf(eos, 1);
  const generated = end < 0 ? sequence.slice(1) : sequence.slice(1, end + 1);
  const out = model.forward({
    inputIds: tf.tensor2d([source], undefined, 'int32'),
    attentionMask: tf.tensor2d([mask], undefined, 'int32'),
    decoderInputIds: tf.tensor2d([sequence.slice(0, generated.length)], undefined, 'int32'),
  });
  const logProbs = tf.logSoftmax(out.logits).arraySync() as number[][][];
  tf.dispose(Object.values(out));
  const sum = generated.reduce((total, token, step) => total + logProbs[0][step][token], 0);
  return sum / generated.length ** lengthPenalty;
}

describe.each(fixtures)('T5 generation parity with transformers (%s)', (name, dir) => {
  const reference = readJsonFixture<T5Reference>('models', name, 'reference.json');
  const arrays = readReferenceArrays(dir);
  const { greedy_hf_generate: greedy, beam_hf_generate: beam, beam_hf_generate_all_beams: allBeams } = reference.generation;
  const beamOptions = (): GenerationOptions => ({
    numBeams: beam.args.num_beams as number,
    lengthPenalty: beam.args.length_penalty as number,
    earlyStopping: beam.args.early_stopping as boolean,
    maxNewTokens: beam.args.max_new_tokens as number,
    attentionMask: reference.attention_mask,
  });
  let model: T5ForConditionalGeneration;

  beforeAll(() => {
    model = T5ForConditionalGeneration.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  it('greedy matches ids and step scores', () => {
    const out = generate(model, reference.input_ids, {
      maxNewTokens: greedy.args.max_new_tokens,
      attentionMask: reference.attention_mask,
      outputScores: true,
    });
    expect(out.sequences).toEqual(greedy.sequences);

    // reference layout [batch, steps, vocab]; ours one [batch, vocab] array per step
    const expected = arrays.get('greedy.scores')!;
    const [batch, steps, vocab] = expected.shape;
    expect(out.scores).toHaveLength(steps);
    const actual = new Float32Array(batch * steps * vocab);
    out.scores!.forEach((step, s) => {
      for (let b = 0; b < batch; b++) actual.set(step.subarray(b * vocab, (b + 1) * vocab), (b * steps + s) * vocab);
    });
    expect(worstExcess(actual, expected.data, HIDDEN_TOLERANCE)).toBeLessThanOrEqual(0);
  });

  it('beam search matches ids and scores', () => {
    const out = generate(model, reference.input_ids, beamOptions());
    expect(out.sequences).toEqual(beam.sequences);
    out.sequencesScores!.forEach((score, i) => expect(Math.abs(score - beam.sequences_scores[i])).toBeLessThanOrEqual(1e-4));
  });

  it('beam search returns all beams best first', () => {
    const out = generate(model, reference.input_ids, { ...beamOptions(), numReturnSequences: allBeams.args.num_return_sequences });
    expect(out.sequences).toEqual(allBeams.sequences);
    expect(out.sequencesScores).toHaveLength(allBeams.sequences_scores.length);
    out.sequencesScores!.forEach((score, i) => expect(Math.abs(score - allBeams.sequences_scores[i])).toBeLessThanOrEqual(1e-4));
  });

  it('greedy stops rows at the end token', () => {
    // an end token that the greedy path produces in every row, at different steps
    const eos = greedy.sequences[1][2];
    const out = generate(model, reference.input_ids, {
      maxNewTokens: greedy.args.max_new_tokens,
      attentionMask: reference.attention_mask,
      eosTokenId: eos,
    });
    expect(out.sequences).toEqual(stopAtEos(greedy.sequences, eos, model.config.pad_token_id));
    expect(out.sequences[0].length).toBeLessThan(greedy.sequences[0].length);
  });

  it('greedy batch equals rows run alone', () => {
    const out = generate(model, reference.input_ids, { maxNewTokens: 5, attentionMask: reference.attention_mask });
    reference.input_ids.forEach((row, i) => {
      const real = row.filter((_, j) => reference.attention_mask[i][j] === 1);
      expect(generate(model, [real], { maxNewTokens: 5 }).sequences[0]).toEqual(out.sequences[i]);
    });
  });

  it.each([1.0, 2.0])('beam scores with end tokens equal teacher forcing (length penalty %s)', (lengthPenalty) => {
    // a frequent token as end token, so finished and running hypotheses compete
    const eos = greedy.sequences[1][2];
    const out = generate(model, reference.input_ids, { ...beamOptions(), lengthPenalty, eosTokenId: eos, numReturnSequences: 3 });
    const finished = out.sequences.filter((row) => row.indexOf(eos, 1) > 0);
    expect(finished.length).toBeGreaterThan(0);

    out.sequences.forEach((sequence, i) => {
      const input = Math.floor(i / 3);
      const expected = teacherForcedScore(model, reference.input_ids[input], reference.attention_mask[input], sequence, eos, lengthPenalty);
      expect(Math.abs(out.sequencesScores![i] - expected)).toBeLessThanOrEqual(1e-4);

      // after an end token only padding follows
      const end = sequence.indexOf(eos, 1);
      if (end > 0) expect(sequence.slice(end + 1).every((token) => token === model.config.pad_token_id)).toBe(true);
      if (i % 3 > 0) expect(out.sequencesScores![i]).toBeLessThanOrEqual(out.sequencesScores![i - 1]);
    });
  });

  it.each([
    ['greedy', {}],
    ['beam', { numBeams: 3 }],
  ] as [string, GenerationOptions][])('%s keeps tensor count flat per token', (_name, options) => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    generate(model, reference.input_ids, { ...options, maxNewTokens: 6, eosTokenId: 999, onStep: () => counts.push(tf.memory().numTensors) });

    expect(counts).toHaveLength(6);
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.each(fixtures)('T5 generation with swapped decode operands (%s)', (name, dir) => {
  const reference = readJsonFixture<T5Reference>('models', name, 'reference.json');
  const arrays = readReferenceArrays(dir);
  const { greedy_hf_generate: greedy, beam_hf_generate: beam } = reference.generation;
  let model: T5ForConditionalGeneration;

  beforeAll(() => {
    model = T5ForConditionalGeneration.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  it('picks the swapped product on wasm without native GEMM', () => {
    const onWasm = tf.getBackend() === 'wasm';
    setNativeGemmEnabled(false);
    try {
      expect(decodeStepLinear()).toBe(onWasm ? weightFirstLinear : denseLinear);
    } finally {
      setNativeGemmEnabled(true);
    }
  });

  it('greedy and beam search match transformers', () => {
    const greedyOut = generate(model, reference.input_ids, {
      maxNewTokens: greedy.args.max_new_tokens,
      attentionMask: reference.attention_mask,
      outputScores: true,
      linear: weightFirstLinear,
    });
    expect(greedyOut.sequences).toEqual(greedy.sequences);
    const expected = arrays.get('greedy.scores')!;
    const [batch, steps, vocab] = expected.shape;
    const actual = new Float32Array(batch * steps * vocab);
    greedyOut.scores!.forEach((step, s) => {
      for (let b = 0; b < batch; b++) actual.set(step.subarray(b * vocab, (b + 1) * vocab), (b * steps + s) * vocab);
    });
    expect(worstExcess(actual, expected.data, HIDDEN_TOLERANCE)).toBeLessThanOrEqual(0);

    const beamOut = generate(model, reference.input_ids, {
      numBeams: beam.args.num_beams as number,
      lengthPenalty: beam.args.length_penalty as number,
      earlyStopping: beam.args.early_stopping as boolean,
      maxNewTokens: beam.args.max_new_tokens as number,
      attentionMask: reference.attention_mask,
      linear: weightFirstLinear,
    });
    expect(beamOut.sequences).toEqual(beam.sequences);
    beamOut.sequencesScores!.forEach((score, i) => expect(Math.abs(score - beam.sequences_scores[i])).toBeLessThanOrEqual(1e-4));
  });

  it('gives the dense product with a bias', () => {
    const x = tf.tensor3d([[[1, 2, 3]], [[-1, 0.5, 2]]]); // [2, 1, 3]
    const weight = tf.tensor2d([[1, 0, 2], [0.5, -1, 1]]); // [2 out, 3 in]
    const bias = tf.tensor1d([0.25, -0.5]);
    const layer = { name: 'test', weight: 'test.weight', inFeatures: 3, outFeatures: 2 };
    const swapped = weightFirstLinear(layer, x, weight, bias);
    const dense = denseLinear(layer, x, weight, bias);
    expect(swapped.shape).toEqual([2, 1, 2]);
    expect(Array.from(swapped.dataSync())).toEqual(Array.from(dense.dataSync()));
    tf.dispose([x, weight, bias, swapped, dense]);
  });
});

describe('T5 generation bad input', () => {
  const [first] = modelFixturesOfType('t5');
  let model: T5ForConditionalGeneration;
  beforeAll(() => {
    model = T5ForConditionalGeneration.fromPretrained(first.dir);
  });
  afterAll(() => model.dispose());

  const cases: [string, number[][], GenerationOptions, RegExp][] = [
    ['empty batch', [], {}, /inputIds is empty/],
    ['empty source', [[]], {}, /inputIds\[0\] is an empty source/],
    ['ragged rows', [[1, 2], [1]], {}, /differ in length/],
    ['id out of range', [[1, 5000]], {}, /inputIds\[0\]\[1\] is 5000/],
    ['zero beams', [[1]], { numBeams: 0 }, /numBeams must be a positive integer, not 0/],
    ['negative beams', [[1]], { numBeams: -2 }, /numBeams must be a positive integer, not -2/],
    ['fractional beams', [[1]], { numBeams: 1.5 }, /numBeams must be a positive integer/],
    ['zero new tokens', [[1]], { maxNewTokens: 0 }, /maxNewTokens must be a positive integer, not 0/],
    ['zero max length', [[1]], { maxLength: 0 }, /maxLength must be a positive integer, not 0/],
    ['max length one', [[1]], { maxLength: 1 }, /at least 2/],
    ['both limits', [[1]], { maxLength: 5, maxNewTokens: 3 }, /not both/],
    ['too many returns', [[1]], { numBeams: 2, numReturnSequences: 3 }, /must not exceed numBeams/],
    ['eos out of range', [[1]], { eosTokenId: -1 }, /eosTokenId is -1/],
    ['mask shape', [[1, 2]], { attentionMask: [[1]] }, /shape of inputIds/],
    ['scores with beams', [[1]], { numBeams: 2, outputScores: true }, /greedy search/],
  ];
  it.each(cases)('%s gives a clear error', (_name, inputIds, options, pattern) => {
    const before = tf.memory().numTensors;
    expect(() => generate(model, inputIds, options)).toThrow(InvalidInputError);
    expect(() => generate(model, inputIds, options)).toThrow(pattern);
    expect(tf.memory().numTensors).toBe(before);
  });
});
