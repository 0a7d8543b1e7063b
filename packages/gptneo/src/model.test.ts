import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { initBackend, SafetensorsFile, type LinearFn } from '@modularevo/core-tensor';
import { modelFixturesOfType, readJsonFixture, temporaryDir } from '@modularevo/test-support';

import { copyModelFolder, worstMismatch } from '../test/helpers';
import { greedyGenerate } from './generation';
import { GPTNeoForCausalLM } from './model';

const TOLERANCE = { abs: 1e-4, rel: 1e-4 };

beforeAll(async () => {
  await initBackend();
});

// Every fixture, loaded once from model.safetensors and once from a copy of its folder that keeps
// only pytorch_model.bin.
const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];
const parityCases = modelFixturesOfType('gpt_neo').flatMap(({ name, dir }) =>
  WEIGHT_FILES.map((weights) => [name, weights, dir] as const),
);

function folderWithOnly(dir: string, weights: string): string {
  const copy = copyModelFolder(dir, path.join(temporaryDir(), path.basename(dir)));
  for (const other of WEIGHT_FILES.filter((name) => name !== weights)) fs.rmSync(path.join(copy, other));
  return copy;
}

describe.each(parityCases)('GPT-Neo parity on %s from %s', (name, weights, fixtureDir) => {
  const dir = folderWithOnly(fixtureDir, weights);
  const reference = readJsonFixture('models', name, 'reference.json');
  const arrays = SafetensorsFile.open(path.join(fixtureDir, 'reference.safetensors'));
  const mask: number[][] = reference.attention_mask;
  const seq = mask[0].length;
  let model: GPTNeoForCausalLM;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(dir);
  });
  afterAll(() => {
    model.dispose();
    arrays.close();
  });

  // Compares [batch, seq, width] outputs only where attention_mask is 1.
  function expectClose(actual: tf.Tensor, key: string, width: number, offset = 0): void {
    const expected = arrays.read(key).data as Float32Array;
    const slice = expected.subarray(offset, offset + actual.size);
    const real = (i: number) => mask[Math.floor(i / (seq * width))][Math.floor(i / width) % seq] === 1;
    const worst = worstMismatch(actual.dataSync(), slice, TOLERANCE, real);
    expect(worst).toBeUndefined();
  }

  it('matches logits and last hidden state', () => {
    tf.tidy(() => {
      const out = model.forward(
        { inputIds: reference.input_ids, attentionMask: mask, positionIds: reference.position_ids_used },
        { outputHiddenStates: true },
      );
      expect(out.logits.shape).toEqual(arrays.info('logits').shape);
      expectClose(out.logits, 'logits', model.config.vocab_size);
      expectClose(out.lastHiddenState, 'last_hidden_state', model.config.hidden_size);
    });
  });

  it('matches every entry of hidden_states', () => {
    tf.tidy(() => {
      const { hiddenStates } = model.transformer({ inputIds: reference.input_ids, attentionMask: mask }, { outputHiddenStates: true });
      const shape = arrays.info('hidden_states').shape;
      expect(hiddenStates!.length).toBe(shape[0]);
      hiddenStates!.forEach((state, i) => {
        expectClose(state, 'hidden_states', model.config.hidden_size, i * state.size);
      });
    });
  });

  it('matches greedy generation exactly', () => {
    const { prompt, max_new_tokens: maxNewTokens, sequences } = reference.greedy_generation;
    expect(greedyGenerate(model, [prompt], { maxNewTokens })).toEqual(sequences);
  });

  it('depends on local attention', () => {
    // The fixture's local window is shorter than its input, so an all-global model must give
    // other logits. This catches a forward pass that ignores the window.
    expect(model.config.attention_layers).toContain('local');
    const globalOnly = new GPTNeoForCausalLM(
      { ...model.config, attention_layers: model.config.attention_layers.map(() => 'global') },
      model.params,
    );
    const change = tf.tidy(() => {
      const inputs = { inputIds: reference.input_ids, attentionMask: mask };
      return tf.max(tf.abs(tf.sub(globalOnly.forward(inputs).logits, model.forward(inputs).logits))).dataSync()[0];
    });
    expect(change).toBeGreaterThan(1e-2);
  });
});

describe('GPT-Neo padding and layers', () => {
  const { dir } = modelFixturesOfType('gpt_neo')[0];
  let model: GPTNeoForCausalLM;

  beforeAll(() => {
    model = GPTNeoForCausalLM.fromPretrained(dir);
  });
  afterAll(() => model.dispose());

  it('gives padded rows the unpadded results', () => {
    const rows = [
      [5, 17, 254, 3, 998, 41, 41, 600, 5, 77, 310, 12],
      [500, 2, 731, 64, 64, 9],
      [42],
    ];
    const seq = 12;
    const eos = model.config.eos_token_id!;
    const padded = rows.map((row) => [...row, ...new Array(seq - row.length).fill(eos)]);
    const mask = rows.map((row) => padded[0].map((_, t) => (t < row.length ? 1 : 0)));

    tf.tidy(() => {
      const batched = model.forward({ inputIds: padded, attentionMask: mask }).logits;
      rows.forEach((row, b) => {
        const alone = model.forward({ inputIds: [row] }).logits; // [1, len, vocab]
        const part = tf.slice(batched, [b, 0, 0], [1, row.length, -1]);
        expect(worstMismatch(part.dataSync(), alone.dataSync(), { abs: 1e-5, rel: 1e-5 })).toBeUndefined();
      });
    });
  });

  it('lists every linear layer once', () => {
    const layers = model.linearLayers();
    const { num_layers: layerCount, hidden_size: hidden, vocab_size: vocab } = model.config;
    expect(layers).toHaveLength(6 * layerCount + 1);
    expect(new Set(layers.map((layer) => layer.name)).size).toBe(layers.length);
    expect(layers.filter((layer) => layer.name.endsWith('_proj') && layer.bias === undefined)).toHaveLength(3 * layerCount);
    expect(layers.at(-1)).toEqual({ name: 'lm_head', weight: 'lm_head.weight', bias: undefined, inFeatures: hidden, outFeatures: vocab });
    for (const layer of layers) {
      expect(model.parameter(layer.weight).shape).toEqual([layer.outFeatures, layer.inFeatures]);
      if (layer.bias) expect(model.parameter(layer.bias).shape).toEqual([layer.outFeatures]);
    }
  });

  it('routes every linear layer through the LinearFn', () => {
    const seen: string[] = [];
    const recording: LinearFn = (layer, x, weight, bias) => {
      seen.push(layer.name);
      let y = tf.matMul(tf.reshape(x, [-1, layer.inFeatures]), weight, false, true);
      if (bias) y = tf.add(y, bias);
      return tf.reshape(y, [...x.shape.slice(0, -1), layer.outFeatures]);
    };
    tf.tidy(() => {
      const inputs = { inputIds: [[1, 2, 3, 4, 5]] };
      const custom = model.forward(inputs, { linear: recording }).logits;
      const dense = model.forward(inputs).logits;
      expect(worstMismatch(custom.dataSync(), dense.dataSync(), { abs: 1e-5, rel: 1e-5 })).toBeUndefined();
    });
    expect(seen.sort()).toEqual(model.linearLayers().map((layer) => layer.name).sort());
  });

  it('replays seeded dropout in training', () => {
    const dropping = new GPTNeoForCausalLM(
      { ...model.config, embed_dropout: 0.1, attention_dropout: 0.1, resid_dropout: 0.1 },
      model.params,
    );
    tf.tidy(() => {
      const inputs = { inputIds: [[1, 2, 3, 4, 5]] };
      const run = (options: { training?: boolean; seed?: number }) => Array.from(dropping.forward(inputs, options).logits.dataSync());
      expect(run({ training: true, seed: 3 })).toEqual(run({ training: true, seed: 3 }));
      expect(run({ training: true, seed: 3 })).not.toEqual(run({ training: true, seed: 4 }));
      expect(run({})).toEqual(Array.from(model.forward(inputs).logits.dataSync()));
    });
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => model.forward({ inputIds: [[1, model.config.vocab_size]] })).toThrow(/Invalid input_ids value 1000 .*outside \[0, 1000\)/);
  });

  it('rejects sequences longer than max_position_embeddings', () => {
    const tooLong = [new Array(model.config.max_position_embeddings + 1).fill(1)];
    expect(() => model.forward({ inputIds: tooLong })).toThrow(/exceeds max_position_embeddings/);
  });

  it('rejects a mask of another shape', () => {
    expect(() => model.forward({ inputIds: [[1, 2, 3]], attentionMask: [[1, 1]] })).toThrow(/attention_mask has shape \[1, 2\]/);
  });
});
