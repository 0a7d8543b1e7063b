import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { CheckpointError, initBackend, InvalidInputError, MismatchError, openCheckpoint, Rng, type LinearFn } from '@modularevo/core-tensor';
import { fixture, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { copyWithWeights, worstMismatch } from '../test/reference';
import { parseRobertaConfig } from './config';
import { CodeBertModel, denseLinear } from './model';
import { ROBERTA_MODEL_LAYOUT } from './weights';

/** Returns the RoBERTa fixture folder whose config names `architecture`, failing when there is none. */
function fixtureOfClass(architecture: string): string {
  const found = modelFixturesOfType('roberta').find(({ dir }) => JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures?.[0] === architecture);
  if (!found) throw new Error(`No RoBERTa model fixture with architectures ["${architecture}"] under ${fixture('models')}`);
  return found.dir;
}

const mlmDir = fixtureOfClass('RobertaForMaskedLM');
const baseDir = fixtureOfClass('RobertaModel');

beforeAll(async () => {
  await initBackend();
});

/** Rows of random real tokens (ids 4 .. 998), never the pad id. */
function randomRows(rng: Rng, lengths: number[]): number[][] {
  return lengths.map((length) => [0, ...Array.from({ length: length - 2 }, () => 4 + rng.int(995)), 2]);
}

describe('CodeBertModel', () => {
  let mlm: CodeBertModel;
  let base: CodeBertModel;

  beforeAll(() => {
    mlm = CodeBertModel.fromPretrained(mlmDir);
    base = CodeBertModel.fromPretrained(baseDir);
  });

  afterAll(() => {
    mlm.dispose();
    base.dispose();
  });

  it('gives padded rows the unpadded outputs', () => {
    const rows = randomRows(Rng.create(3), [7, 19, 38]);
    const seq = 38;
    const padded = rows.map((row) => [...row, ...new Array(seq - row.length).fill(1)]);
    const mask = rows.map((row) => [...new Array(row.length).fill(1), ...new Array(seq - row.length).fill(0)]);

    for (const model of [mlm, base]) {
      tf.tidy(() => {
        const { lastHiddenState } = model.encode({ inputIds: padded, attentionMask: mask });
        const pooled = model.pool(lastHiddenState).dataSync();
        rows.forEach((row, b) => {
          const alone = model.encode({ inputIds: [row] }).lastHiddenState;
          const batched = tf.slice(lastHiddenState, [b, 0, 0], [1, row.length, -1]);
          expect(worstMismatch(batched.dataSync(), alone.dataSync(), { abs: 1e-5, rel: 1e-5 })).toBeUndefined();
          const hidden = model.config.hidden_size;
          expect(worstMismatch(pooled.subarray(b * hidden, (b + 1) * hidden), model.pool(alone).dataSync(), { abs: 1e-5, rel: 1e-5 })).toBeUndefined();
        });
      });
    }
  });

  it('takes 38 tokens and rejects 39', () => {
    const [fits, tooLong] = randomRows(Rng.create(4), [38, 39]);
    expect(() => tf.tidy(() => mlm.encode({ inputIds: [fits] }).lastHiddenState.dataSync())).not.toThrow();
    expect(() => mlm.encode({ inputIds: [tooLong] })).toThrow(InvalidInputError);
    expect(() => mlm.encode({ inputIds: [tooLong] })).toThrow(/has 39 tokens but the model takes at most 38/);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => mlm.encode({ inputIds: [[0, 1000, 2]] })).toThrow(/Invalid input_ids value 1000/);
    expect(() => mlm.encode({ inputIds: [[0, 5, 2]], attentionMask: [[1, 2, 1]] })).toThrow(/Invalid attention_mask value 2/);
  });

  it('runs every linear layer through the LinearFn', () => {
    const seen: string[] = [];
    const spy: LinearFn = (layer, x, weight, bias) => {
      seen.push(layer.name);
      return denseLinear(layer, x, weight, bias);
    };
    tf.tidy(() => {
      const { lastHiddenState } = mlm.encode({ inputIds: [[0, 5, 6, 2]] }, { linear: spy });
      mlm.pool(lastHiddenState, { linear: spy });
      mlm.lmHead(lastHiddenState, { linear: spy });
    });
    const pooler = mlm.names.body('pooler.dense');
    expect(seen.filter((name) => name !== pooler)).toEqual(mlm.linearLayers().map((layer) => layer.name));
  });

  it('lists q/k/v, dense layers, pooler and lm_head', () => {
    const layersPerBlock = 6;
    const blocks = mlm.config.num_hidden_layers;
    expect(base.linearLayers().length).toBe(layersPerBlock * blocks + 1);
    expect(mlm.linearLayers().length).toBe(layersPerBlock * blocks + 2);
    expect(base.linearLayers().map((layer) => layer.name)).toContain('pooler.dense');
    expect(mlm.linearLayers().map((layer) => layer.name).slice(-2)).toEqual(['lm_head.dense', 'lm_head.decoder']);
    expect(mlm.linearLayers()[0].name).toBe('roberta.encoder.layer.0.attention.self.query');

    for (const model of [mlm, base]) {
      for (const layer of model.linearLayers()) {
        expect(model.parameter(layer.weight).shape).toEqual([layer.outFeatures, layer.inFeatures]);
        expect(model.parameter(layer.bias!).shape).toEqual([layer.outFeatures]);
      }
    }
  });

  it('ties the decoder to the word embeddings', () => {
    expect(mlm.parameter('lm_head.decoder.weight')).toBe(mlm.parameter('roberta.embeddings.word_embeddings.weight'));
    expect(mlm.parameter('lm_head.decoder.bias')).toBe(mlm.parameter('lm_head.bias'));
    expect(mlm.params.has('lm_head.decoder.weight')).toBe(false);
  });

  it('initialises a missing pooler the same on every load', () => {
    const again = CodeBertModel.fromPretrained(mlmDir);
    try {
      expect(mlm.freshPooler).toBe(true);
      expect(base.freshPooler).toBe(false);
      expect(Array.from(again.parameter('roberta.pooler.dense.weight').dataSync())).toEqual(Array.from(mlm.parameter('roberta.pooler.dense.weight').dataSync()));
      expect(mlm.parameter('roberta.pooler.dense.weight').dataSync().some((value) => value !== 0)).toBe(true);
      expect(mlm.linearLayers().map((layer) => layer.name)).not.toContain('roberta.pooler.dense');
    } finally {
      again.dispose();
    }
  });

  it('rejects the lm_head on a RobertaModel', () => {
    expect(() => base.lmHead(tf.zeros([1, 32]))).toThrow(MismatchError);
    expect(() => base.lmHead(tf.zeros([1, 32]))).toThrow(/codebert-base-mlm/);
  });

  it('saves in the layout it loaded', async () => {
    for (const [model, dir] of [[mlm, mlmDir], [base, baseDir]] as const) {
      const out = path.join(temporaryDir(), 'saved');
      await model.save(out);

      const reader = openCheckpoint(out);
      const saved = reader.keys().sort();
      reader.close();
      const original = openCheckpoint(path.join(dir, 'model.safetensors'));
      const expected = [...original.keys(), ...(model.freshPooler ? ['roberta.pooler.dense.bias', 'roberta.pooler.dense.weight'] : [])].sort();
      original.close();
      expect(saved).toEqual(expected);
      expect(fs.existsSync(path.join(out, 'vocab.json'))).toBe(true);

      const reloaded = CodeBertModel.fromPretrained(out);
      try {
        const ids = { inputIds: [[0, 17, 99, 250, 2]] };
        const before = tf.tidy(() => model.encode(ids).lastHiddenState.dataSync());
        const after = tf.tidy(() => reloaded.encode(ids).lastHiddenState.dataSync());
        expect(Array.from(after)).toEqual(Array.from(before));
      } finally {
        reloaded.dispose();
      }
    }
  });

  it('refuses to overwrite a non-empty folder', async () => {
    const out = temporaryDir();
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    await expect(base.save(out)).rejects.toThrow(InvalidInputError);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  it('assigns a state dict and rejects bad tensors', () => {
    const model = CodeBertModel.fromPretrained(baseDir);
    try {
      const name = 'pooler.dense.bias';
      const shape = model.parameter(name).shape;
      model.assign(new Map([[name, { dtype: 'F32', shape, data: new Float32Array(shape[0]).fill(0.5) }]]));
      expect(Array.from(model.parameter(name).dataSync())).toEqual(new Array(shape[0]).fill(0.5));

      expect(() => model.assign(new Map([['pooler.dense.nope', { dtype: 'F32', shape, data: new Float32Array(shape[0]) }]]))).toThrow(MismatchError);
      expect(() => model.assign(new Map([[name, { dtype: 'F32', shape: [3], data: new Float32Array(3) }]]))).toThrow(/has shape \[3\]/);
    } finally {
      model.dispose();
    }
  });

  it('replays dropout with the same seed', () => {
    const config = parseRobertaConfig({ ...JSON.parse(fs.readFileSync(path.join(baseDir, 'config.json'), 'utf8')), hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 });
    const model = CodeBertModel.fromConfig(config, Rng.create(1), ROBERTA_MODEL_LAYOUT);
    try {
      const run = (seed: number, training: boolean) => tf.tidy(() => Array.from(model.encode({ inputIds: [[0, 5, 6, 7, 2]] }, { training, seed }).lastHiddenState.dataSync()));
      expect(run(5, true)).toEqual(run(5, true));
      expect(run(5, true)).not.toEqual(run(6, true));
      expect(run(5, false)).toEqual(run(6, false));
    } finally {
      model.dispose();
    }
  });
});

describe('tensor ownership', () => {
  it('frees every tensor on dispose', () => {
    const before = tf.memory().numTensors;
    CodeBertModel.fromPretrained(mlmDir).dispose();
    CodeBertModel.fromConfig(parseRobertaConfig(JSON.parse(fs.readFileSync(path.join(mlmDir, 'config.json'), 'utf8'))), Rng.create(1)).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives each variable its own buffer', () => {
    // AdamW updates a weight in place only when no other tensor shares its buffer
    const model = CodeBertModel.fromPretrained(mlmDir);
    const backend = tf.backend() as unknown as { refCount(dataId: object): number };
    try {
      for (const [name, variable] of model.params) expect({ name, refCount: backend.refCount(variable.dataId) }).toEqual({ name, refCount: 1 });
    } finally {
      model.dispose();
    }
  });
});

describe('loading errors', () => {
  it('names a missing tensor', () => {
    const dir = copyWithWeights(baseDir, temporaryDir(), 'model.safetensors');
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 3 }));
    expect(() => CodeBertModel.fromPretrained(dir)).toThrow(CheckpointError);
    expect(() => CodeBertModel.fromPretrained(dir)).toThrow(/encoder\.layer\.2\.attention\.self\.query\.weight" is missing/);
  });

  it.each([
    [{ model_type: 'gpt_neo' }, /expected "roberta"/],
    [{ hidden_size: 30 }, /not divisible by num_attention_heads/],
    [{ hidden_act: 'swish' }, /hidden_act "swish" is not supported/],
    [{ max_position_embeddings: 2 }, /leaves no position after pad_token_id/],
    [{ position_embedding_type: 'relative_key' }, /only "absolute"/],
  ])('rejects config %j', (change, message) => {
    const config = JSON.parse(fs.readFileSync(fixture('models', path.basename(baseDir), 'config.json'), 'utf8'));
    expect(() => parseRobertaConfig({ ...config, ...change })).toThrow(message);
  });
});
