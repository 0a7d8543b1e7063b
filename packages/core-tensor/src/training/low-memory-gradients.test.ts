import * as tf from '@tensorflow/tfjs-core';

import { initBackend } from '../backend';
import { testValues } from '../backend/__tests__/numeric';
import { causalMask, crossEntropy, FLOAT32_MIN, geluNew, layerNorm, linear } from '../ops';
import { lowMemoryVariableGrads } from './low-memory-gradients';

const VOCAB = 11;
const HIDDEN = 8;
const HEADS = 2;
const SEQ = 5;
const BATCH = 2;

function variable(name: string, shape: number[], seed: number, scale = 0.5, offset = 0): tf.Variable {
  const values = testValues(shape.reduce((a, b) => a * b, 1), seed).map((v) => offset + scale * v);
  return tf.tidy(() => tf.variable(tf.tensor(values, shape), true, name));
}

/** Builds a two-block causal transformer with tied embeddings, in the parameter layout of GPT-Neo. */
function tinyTransformer(prefix: string) {
  const params: tf.Variable[] = [
    variable(`${prefix}.wte`, [VOCAB, HIDDEN], 1),
    variable(`${prefix}.wpe`, [SEQ, HIDDEN], 2),
  ];
  for (let block = 0; block < 2; block++) {
    const at = (name: string) => `${prefix}.h${block}.${name}`;
    params.push(
      variable(at('ln.weight'), [HIDDEN], 10 + block, 0.2, 1),
      variable(at('ln.bias'), [HIDDEN], 20 + block, 0.1),
      variable(at('qkv.weight'), [3 * HIDDEN, HIDDEN], 30 + block),
      variable(at('out.weight'), [HIDDEN, HIDDEN], 40 + block),
      variable(at('out.bias'), [HIDDEN], 50 + block, 0.1),
      variable(at('fc.weight'), [4 * HIDDEN, HIDDEN], 60 + block),
      variable(at('fc.bias'), [4 * HIDDEN], 70 + block, 0.1),
      variable(at('proj.weight'), [HIDDEN, 4 * HIDDEN], 80 + block),
    );
  }
  const byName = new Map(params.map((p) => [p.name.slice(prefix.length + 1), p]));
  const get = (name: string) => byName.get(name)!;

  const ids = tf.tensor2d([[1, 4, 4, 9, 0], [3, 2, 7, 7, 10]], [BATCH, SEQ], 'int32');
  const labels = tf.tensor1d([4, 4, 9, 0, -100, 2, 7, 7, 10, -100], 'int32');
  const mask = causalMask(SEQ);

  const loss = (): tf.Scalar => {
    // embeddings, then blocks of attention and MLP with residual connections
    let hidden = tf.add(tf.gather(get('wte'), ids), get('wpe')); // [batch, seq, hidden]
    for (let block = 0; block < 2; block++) {
      const at = (name: string) => get(`h${block}.${name}`);
      const normed = layerNorm(hidden, at('ln.weight') as tf.Tensor1D, at('ln.bias') as tf.Tensor1D);
      const qkv = linear(normed, at('qkv.weight') as tf.Tensor2D); // [batch, seq, 3 * hidden]
      const heads = (part: number) =>
        tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, part * HIDDEN], [BATCH, SEQ, HIDDEN]), [BATCH, SEQ, HEADS, HIDDEN / HEADS]), [0, 2, 1, 3]);
      const scores = tf.matMul(heads(0), heads(1), false, true); // [batch, heads, seq, seq]
      const weights = tf.softmax(tf.where(mask, scores, FLOAT32_MIN));
      const mixed = tf.reshape(tf.transpose(tf.matMul(weights, heads(2)), [0, 2, 1, 3]), [BATCH, SEQ, HIDDEN]);
      hidden = tf.add(hidden, linear(mixed, at('out.weight') as tf.Tensor2D, at('out.bias') as tf.Tensor1D));
      const inner = geluNew(linear(hidden, at('fc.weight') as tf.Tensor2D, at('fc.bias') as tf.Tensor1D));
      hidden = tf.add(hidden, linear(inner, at('proj.weight') as tf.Tensor2D));
    }

    // tied language-modelling head
    const logits = linear(tf.reshape(hidden, [BATCH * SEQ, HIDDEN]), get('wte') as tf.Tensor2D); // [rows, vocab]
    return crossEntropy(logits, labels);
  };

  const dispose = () => tf.dispose([...params, ids, labels, mask]);
  return { params, loss, dispose };
}

/** Counts tensors and backend buffers, so a test can check that a call leaves only its results. */
function allocations(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: tf.backend().numDataIds() };
}

describe.each(['wasm', 'cpu'] as const)('lowMemoryVariableGrads on %s', (backend) => {
  beforeAll(async () => {
    await initBackend({ backend });
  });

  it('matches tf.variableGrads bit for bit', () => {
    const model = tinyTransformer(`${backend}.same`);
    const reference = tf.variableGrads(model.loss, model.params);
    const lean = lowMemoryVariableGrads(model.loss, model.params);

    expect(lean.value.dataSync()[0]).toBe(reference.value.dataSync()[0]);
    expect(Object.keys(lean.grads).sort()).toEqual(Object.keys(reference.grads).sort());
    for (const [name, gradient] of Object.entries(reference.grads)) {
      expect({ name, values: Array.from(lean.grads[name].dataSync()) }).toEqual({ name, values: Array.from(gradient.dataSync()) });
    }

    tf.dispose([reference.value, lean.value, ...Object.values(reference.grads), ...Object.values(lean.grads)]);
    model.dispose();
  });

  it('leaves only the value and the gradients', () => {
    const model = tinyTransformer(`${backend}.leak`);
    const before = allocations();
    const { value, grads } = lowMemoryVariableGrads(model.loss, model.params);
    const results = 1 + Object.keys(grads).length;

    expect(allocations()).toEqual({ tensors: before.tensors + results, buffers: before.buffers + results });
    tf.dispose([value, ...Object.values(grads)]);
    expect(allocations()).toEqual(before);
    model.dispose();
  });

  it('holds less memory late in the backward pass', () => {
    // a probe op next to the variables: its gradient runs last and measures what is still held
    const model = tinyTransformer(`${backend}.peak`);
    let heldBytes = 0;
    const probe = tf.customGrad((x: tf.Tensor) => ({
      value: tf.clone(x),
      gradFunc: (dy: tf.Tensor) => {
        heldBytes = tf.memory().numBytes;
        return tf.clone(dy);
      },
    }));
    const probed = () => {
      const probeTerm = tf.mul(tf.sum(probe(model.params[0])), 0); // first on the tape
      return tf.add(model.loss(), probeTerm) as tf.Scalar;
    };

    const start = tf.memory().numBytes;
    const reference = tf.variableGrads(probed, model.params);
    const referenceHeld = heldBytes - start;
    tf.dispose([reference.value, ...Object.values(reference.grads)]);
    const lean = lowMemoryVariableGrads(probed, model.params);
    const leanHeld = heldBytes - start;
    tf.dispose([lean.value, ...Object.values(lean.grads)]);

    // by then the gradients of almost every parameter exist, and tfjs also keeps every activation and gradient
    const parameterBytes = model.params.reduce((sum, p) => sum + 4 * p.size, 0);
    expect(leanHeld).toBeLessThan(1.5 * parameterBytes);
    expect(referenceHeld).toBeGreaterThan(4 * leanHeld);
    model.dispose();
  });

  it('handles gradients that reuse their input tensors', () => {
    // one op passes dy on unchanged, one returns one tensor for both of its inputs, and one
    // returns its saved tensor (right here, where dy is 1)
    const a = variable(`${backend}.reuse.a`, [3], 96);
    const b = variable(`${backend}.reuse.b`, [3], 97);
    const passThrough = tf.customGrad((x: tf.Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: tf.Tensor) => dy }));
    const sumOfTwo = tf.customGrad((x: tf.Tensor, y: tf.Tensor) => ({
      value: tf.add(x, y),
      gradFunc: (dy: tf.Tensor) => {
        const shared = tf.mul(dy, 1);
        return [shared, shared];
      },
    }));
    const dotWithConstant = tf.customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
      const constant = tf.tensor([0.5, -1, 2]);
      save([constant]);
      return { value: tf.sum(tf.mul(x, constant)), gradFunc: (_dy: tf.Tensor, [saved]: tf.Tensor[]) => saved };
    });
    const f = () => {
      const main = tf.sum(tf.mul(sumOfTwo(passThrough(tf.square(a)), tf.mul(b, 2)), tf.tensor([1, 2, 3])));
      return tf.add(main, dotWithConstant(a)) as tf.Scalar;
    };

    const reference = tf.variableGrads(f, [a, b]);
    const lean = lowMemoryVariableGrads(f, [a, b]);
    for (const name of [a.name, b.name]) {
      expect({ name, values: Array.from(lean.grads[name].dataSync()) }).toEqual({ name, values: Array.from(reference.grads[name].dataSync()) });
    }
    tf.dispose([reference.value, lean.value, ...Object.values(reference.grads), ...Object.values(lean.grads), a, b]);
  });

  it('returns null for a non-trainable variable, as tf.variableGrads does', () => {
    const trained = variable(`${backend}.trained`, [3], 90);
    const frozen = tf.tidy(() => tf.variable(tf.tensor([1, 2, 3]), false, `${backend}.frozen`));
    const f = () => tf.sum(tf.mul(trained, frozen)) as tf.Scalar;

    const reference = tf.variableGrads(f, [trained, frozen]);
    const lean = lowMemoryVariableGrads(f, [trained, frozen]);
    expect(lean.grads[frozen.name]).toBeNull();
    expect(reference.grads[frozen.name]).toBeNull();
    expect(Array.from(lean.grads[trained.name].dataSync())).toEqual([1, 2, 3]);

    tf.dispose([reference.value, lean.value, reference.grads[trained.name], lean.grads[trained.name], trained, frozen]);
  });

  it('rejects a value that is not a scalar, leaking nothing', () => {
    const weights = variable(`${backend}.vector`, [4], 91);
    const before = allocations();
    expect(() => lowMemoryVariableGrads(() => tf.square(weights) as unknown as tf.Scalar, [weights])).toThrow(/must return a scalar/);
    expect(allocations()).toEqual(before);
    weights.dispose();
  });

  it('rejects a value that no variable reaches, leaking nothing', () => {
    const weights = variable(`${backend}.unused`, [4], 92);
    const before = allocations();
    expect(() => lowMemoryVariableGrads(() => tf.scalar(3), [weights])).toThrow(/Cannot find a connection between any variable/);
    expect(() => lowMemoryVariableGrads(() => tf.scalar(3), [tf.tidy(() => tf.variable(tf.zeros([1]), false, `${backend}.off`))])).toThrow(
      /none of the 1 variables is trainable/,
    );
    expect(allocations().tensors).toBe(before.tensors + 1);
    tf.dispose([weights, tf.engine().registeredVariables[`${backend}.off`]]);
  });

  it('cleans up after a gradient that throws, and runs again', () => {
    const weights = variable(`${backend}.throws`, [4], 93);
    const broken = tf.customGrad((x: tf.Tensor) => ({
      value: tf.square(x),
      gradFunc: () => {
        throw new Error('broken gradient');
      },
    }));
    const before = allocations();
    expect(() => lowMemoryVariableGrads(() => tf.sum(broken(tf.mul(weights, 2))) as tf.Scalar, [weights])).toThrow('broken gradient');
    expect(allocations()).toEqual(before);

    const { value, grads } = lowMemoryVariableGrads(() => tf.sum(tf.mul(weights, 3)) as tf.Scalar, [weights]);
    expect(Array.from(grads[weights.name].dataSync())).toEqual([3, 3, 3, 3]);
    tf.dispose([value, weights, ...Object.values(grads)]);
  });

  it('cleans up after a forward pass that throws', () => {
    const weights = variable(`${backend}.forward`, [4], 94);
    const before = allocations();
    expect(() =>
      lowMemoryVariableGrads(() => {
        tf.square(weights);
        throw new Error('bad batch');
      }, [weights]),
    ).toThrow('bad batch');
    expect(allocations()).toEqual(before);
    weights.dispose();
  });

  it('runs tf.variableGrads inside another gradient', () => {
    // d/dw sum(d/dw sum(w^3)) = d/dw sum(3 w^2) = 6 w
    const weights = variable(`${backend}.nested`, [3], 95);
    const outer = tf.variableGrads(() => {
      const inner = lowMemoryVariableGrads(() => tf.sum(tf.pow(weights, 3)) as tf.Scalar, [weights]);
      return tf.sum(inner.grads[weights.name]) as tf.Scalar;
    }, [weights]);
    const expected = Array.from(weights.dataSync()).map((w) => 6 * w);
    const actual = Array.from(outer.grads[weights.name].dataSync());
    actual.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
    tf.dispose([outer.value, weights, ...Object.values(outer.grads)]);
  });
});
