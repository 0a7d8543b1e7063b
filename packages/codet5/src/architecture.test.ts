import * as fs from 'fs';
import * as path from 'path';

import * as tf from '@tensorflow/tfjs-core';

import { InvalidInputError, MismatchError, createRng, initBackend, type StateDict } from '@modularevo/core-tensor';
import { MaskScores, maskedLinear } from '@modularevo/masking';
import { dataset, modelFixturesOfType, temporaryDir } from '@modularevo/test-support';

import { CODET5_TASK_HEAD_PATTERN, architecture } from './architecture';
import { T5ForConditionalGeneration } from './model';
import { parseT5Config } from './config';
import { randomT5Weights } from './init';
import { CodeT5PretrainedModel } from './pretrained-model';

const fixtures = modelFixturesOfType('t5').map(({ name, dir }) => [name, dir] as const);

beforeAll(async () => {
  await initBackend();
});

/** Logits of a fixed input, as a flat array. */
function logitsOf(model: CodeT5PretrainedModel, options: { linear?: ReturnType<typeof maskedLinear> } = {}): Float32Array {
  return tf.tidy(() => {
    const inputIds = tf.tensor2d([[5, 6, 7, 2]], undefined, 'int32');
    const decoderInputIds = tf.tensor2d([[0, 8, 9]], undefined, 'int32');
    return model.t5.forward({ inputIds, decoderInputIds }, options).logits.dataSync() as Float32Array;
  });
}

describe('codet5 architecture description', () => {
  it('names the architecture and model type', () => {
    expect(architecture.name).toBe('codet5');
    expect(architecture.modelTypes).toEqual(['t5']);
    expect(Object.keys(architecture.tasks).sort()).toEqual(['concode', 'summarize']);
    expect(architecture.objective.name).toBe('span-corruption');
  });

  it('task-head pattern matches no name', () => {
    const pattern = new RegExp(CODET5_TASK_HEAD_PATTERN);
    for (const name of ['shared.weight', 'lm_head.weight', 'classification_head.0.weight', '', 'decoder.final_layer_norm.weight']) {
      expect(pattern.test(name)).toBe(false);
    }
  });

  it('gives tasks their CodeXGLUE metrics and domains', () => {
    expect(architecture.tasks.summarize.info).toMatchObject({ primaryMetric: 'smooth-bleu', defaultDomain: 'python' });
    expect(architecture.tasks.concode.info).toMatchObject({ primaryMetric: 'bleu', defaultDomain: 'java' });
  });
});

describe('codet5 readCorpus', () => {
  it('reads a CodeSearchNet language per split', async () => {
    const root = dataset('codesearchnet');
    const train = await architecture.readCorpus!(root, 'train', { domain: 'python' });
    expect(train!.length).toBeGreaterThan(0);
    expect(train!.every((text) => text.includes('def '))).toBe(true);

    const fromLanguageFolder = await architecture.readCorpus!(path.join(root, 'python'), 'test', { domain: 'anything' });
    expect(fromLanguageFolder).toEqual(await architecture.readCorpus!(root, 'test', { domain: 'python' }));
    expect(await architecture.readCorpus!(root, 'train', { domain: 'python', maxDocuments: 1 })).toHaveLength(1);
  });

  it('leaves other layouts to the JSON-lines reader', async () => {
    const dir = temporaryDir();
    fs.writeFileSync(path.join(dir, 'train.jsonl'), '{"text": "x"}\n');
    expect(await architecture.readCorpus!(dir, 'train', { domain: 'python' })).toBeUndefined();
    expect(await architecture.readCorpus!(path.join(dir, 'train.jsonl'), 'train', { domain: 'python' })).toBeUndefined();
  });

  it('rejects a language the folder lacks', async () => {
    await expect(architecture.readCorpus!(dataset('codesearchnet'), 'train', { domain: 'cobol' })).rejects.toThrow(/has no language "cobol" \(it has go, java, .*\); pass one of them as the domain/);
  });
});

describe.each(fixtures)('codet5 pretrained model (%s)', (_name, dir) => {
  let model: CodeT5PretrainedModel;

  beforeAll(async () => {
    model = (await architecture.load(dir)) as CodeT5PretrainedModel;
  });
  afterAll(() => model.dispose());

  it('loads parameters once under Hugging Face names', () => {
    expect(model.architecture).toBe('codet5');
    expect(model.sourceDir).toBe(dir);
    expect(model.configJson.model_type).toBe('t5');
    expect(model.params.has('shared.weight')).toBe(true);
    expect(model.params.has('lm_head.weight')).toBe(false);
  });

  it('resolves the tied LM head', () => {
    expect(model.parameter('lm_head.weight')).toBe(model.parameter('shared.weight'));
    expect(model.parameter('encoder.embed_tokens.weight')).toBe(model.parameter('shared.weight'));
    expect(() => model.parameter('no.such.weight')).toThrow(InvalidInputError);
  });

  it('masks every linear layer through the interface, LM head included', () => {
    const layers = model.linearLayers();
    expect(layers.map((layer) => layer.name)).toContain('lm_head');
    expect(layers.some((layer) => layer.name.endsWith('EncDecAttention.q'))).toBe(true);
    expect(layers.some((layer) => layer.name.endsWith('DenseReluDense.wo'))).toBe(true);
    for (const layer of layers) expect(model.parameter(layer.weight).shape).toEqual([layer.outFeatures, layer.inFeatures]);

    // all scores positive keep the model; a negative LM head score zeroes the logits
    const scores = MaskScores.initialize(layers, createRng(0));
    const dense = logitsOf(model);
    expect(Array.from(logitsOf(model, { linear: maskedLinear(scores) }))).toEqual(Array.from(dense));
    tf.tidy(() => scores.get('lm_head.weight')!.assign(tf.fill(scores.get('lm_head.weight')!.shape, -1)));
    expect(logitsOf(model, { linear: maskedLinear(scores) }).every((value) => value === 0)).toBe(true);
    scores.dispose();
  });

  it('assigns by name and by tied alias', () => {
    const shared = model.stateDict().get('shared.weight')!;
    const changed = Float32Array.from(shared.data as Float32Array, (value) => value + 1);
    const original = new Float32Array(shared.data as Float32Array);

    model.assign(new Map([['lm_head.weight', { dtype: 'F32', shape: shared.shape, data: changed }]]));
    expect(Array.from(model.parameter('shared.weight').dataSync())).toEqual(Array.from(changed));
    model.assign(new Map([['shared.weight', { dtype: 'F32', shape: shared.shape, data: original }]]));
    expect(Array.from(model.parameter('shared.weight').dataSync())).toEqual(Array.from(original));
  });

  it('rejects bad assignments without changing anything', () => {
    const before = model.stateDict();
    const norm = before.get('encoder.final_layer_norm.weight')!;
    const good = { dtype: 'F32' as const, shape: norm.shape, data: new Float32Array(norm.data.length).fill(3) };
    const cases: [string, StateDict, string][] = [
      ['unknown name', new Map([['encoder.final_layer_norm.weight', good], ['encoder.extra.weight', good]]), 'has no such parameter'],
      ['wrong shape', new Map([['encoder.final_layer_norm.weight', good], ['shared.weight', good]]), 'has shape'],
      ['integer dtype', new Map([['encoder.final_layer_norm.weight', { dtype: 'I32', shape: norm.shape, data: new Int32Array(norm.data.length) }]]), 'not a float dtype'],
    ];
    for (const [, state, message] of cases) {
      expect(() => model.assign(state)).toThrow(MismatchError);
      expect(() => model.assign(state)).toThrow(message);
    }
    expect(Array.from(model.parameter('encoder.final_layer_norm.weight').dataSync())).toEqual(Array.from(norm.data as Float32Array));
  });

  it('rejects tied names with different values', () => {
    const shared = model.stateDict().get('shared.weight')!;
    const other = { ...shared, data: Float32Array.from(shared.data as Float32Array, (value) => value * 2) };
    expect(() => model.assign(new Map([['shared.weight', shared], ['lm_head.weight', other]]))).toThrow('both set "shared.weight"');
  });

  it('saves a complete folder with the tokenizer', async () => {
    const target = path.join(temporaryDir(), 'saved');
    await model.save(target, { json: { 'task.json': { task: 'summarize' } } });

    const files = fs.readdirSync(target).sort();
    for (const name of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json', 'task.json']) {
      expect(files).toContain(name);
    }
    if (fs.existsSync(path.join(dir, 'generation_config.json'))) expect(files).toContain('generation_config.json');

    const reloaded = CodeT5PretrainedModel.load(target);
    try {
      const before = model.stateDict();
      for (const [name, tensor] of reloaded.stateDict()) expect(Array.from(tensor.data)).toEqual(Array.from(before.get(name)!.data));
      expect(reloaded.tokenizer().encode('def add')).toEqual(model.tokenizer().encode('def add'));
    } finally {
      reloaded.dispose();
    }
  });

  it('keeps a non-empty folder unless overwriting', async () => {
    const target = temporaryDir();
    fs.writeFileSync(path.join(target, 'keep.txt'), 'x');
    await expect(model.save(target)).rejects.toThrow(InvalidInputError);
    expect(fs.readdirSync(target)).toEqual(['keep.txt']);
    await model.save(target, { overwrite: true });
    expect(fs.existsSync(path.join(target, 'model.safetensors'))).toBe(true);
  });
});

describe('codet5 pretrained model memory and tokenizer checks', () => {
  it.each(fixtures)('dispose frees every tensor (%s)', async (_name, dir) => {
    const before = tf.memory().numTensors;
    const model = await architecture.load(dir);
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each(fixtures)('rejects a tokenizer larger than the vocabulary (%s)', (_name, dir) => {
    const config = parseT5Config({ model_type: 't5', vocab_size: 500, d_model: 8, d_kv: 4, d_ff: 8, num_layers: 1, num_heads: 2, decoder_start_token_id: 0 }, 'test');
    const model = new CodeT5PretrainedModel(T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 1)), dir);
    try {
      expect(() => model.tokenizer()).toThrow(MismatchError);
      expect(() => model.tokenizer()).toThrow("vocab_size is 500");
    } finally {
      model.dispose();
    }
  });

  it('asks for a folder when there is no tokenizer', () => {
    const config = parseT5Config({ model_type: 't5', vocab_size: 50, d_model: 8, d_kv: 4, d_ff: 8, num_layers: 1, num_heads: 2 }, 'test');
    const model = new CodeT5PretrainedModel(T5ForConditionalGeneration.fromStateDict(config, randomT5Weights(config, 1)));
    try {
      expect(() => model.tokenizer()).toThrow('has no tokenizer');
    } finally {
      model.dispose();
    }
  });
});
