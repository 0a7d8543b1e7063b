/**
 * ONNX graphs (opset 17) of the benchmark's shapes, written with the `onnx-proto` message types.
 * They hold one linear layer, or the body of GPT-Neo or RoBERTa built from a model's Hugging Face
 * parameters, so ONNX Runtime computes what the dense tfjs path computes, on the same weights.
 */
import { onnx } from 'onnx-proto';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** Reads a parameter's values by Hugging Face name, in the PyTorch layout. */
export type ParameterValues = (name: string) => Float32Array;

/** A graph under construction: nodes, weights as initializers, typed inputs and outputs. */
class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** Declares a graph input; a `string` dimension is symbolic (a batch size). */
  input(name: string, elemType: number, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Adds a float32 initializer and returns its name. */
  weight(values: Float32Array, dims: number[]): string {
    const name = `w${this.counter++}`;
    this.initializers.push({ name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }

  /** Adds an int64 initializer (shapes, axes) and returns its name. */
  int64s(values: number[]): string {
    const name = `i${this.counter++}`;
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  /** Adds one node and returns the name of its output (`output`, or a fresh name). */
  node(opType: string, inputs: string[], attribute: onnx.IAttributeProto[] = [], output = `t${this.counter++}`): string {
    this.nodes.push({ opType, input: inputs, output: [output], attribute });
    return output;
  }

  /** Names `x` the graph output `y`, of rank `rank`. */
  result(x: string, rank: number): void {
    this.node('Identity', [x], [], 'y');
    this.outputs.push(valueInfo('y', FLOAT, Array.from({ length: rank }, (_, i) => `d${i}`)));
  }

  /** `x W^T + b` for a PyTorch weight `[out, in]`: ONNX MatMul takes `[in, out]`, so the weight is stored transposed. */
  linear(x: string, weight: Float32Array, outFeatures: number, inFeatures: number, bias?: Float32Array): string {
    const product = this.node('MatMul', [x, this.weight(transpose(weight, outFeatures, inFeatures), [inFeatures, outFeatures])]);
    return bias ? this.node('Add', [product, this.weight(bias, [outFeatures])]) : product;
  }

  layerNorm(x: string, weight: Float32Array, bias: Float32Array, epsilon: number): string {
    return this.node('LayerNormalization', [x, this.weight(weight, [weight.length]), this.weight(bias, [bias.length])], [floatAttribute('epsilon', epsilon), intAttribute('axis', -1)]);
  }

  scalar(value: number): string {
    return this.weight(Float32Array.of(value), []);
  }

  /** Serializes the model. */
  encode(name: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: '@modularevo/cost bench',
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  const dim = dims.map((size) => (typeof size === 'number' ? { dimValue: size } : { dimParam: size }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function intAttribute(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

function intsAttribute(name: string, values: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function floatAttribute(name: string, value: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

// [rows, cols] -> [cols, rows]
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/** Builds the graph of one linear layer `y [tokens, out] = x [tokens, in] W^T + b`, with input `x` and output `y`. */
export function linearGraph(weight: Float32Array, bias: Float32Array, outFeatures: number, inFeatures: number): Uint8Array {
  const graph = new GraphBuilder();
  const x = graph.input('x', FLOAT, ['tokens', inFeatures]);
  graph.result(graph.linear(x, weight, outFeatures, inFeatures, bias), 2);
  return graph.encode('linear');
}

/** Sizes of a transformer body. */
export interface BodySizes {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
}

/**
 * Adds multi-head self-attention over the projections `[batch, seq, hidden]` with an additive bias
 * `[1, 1, seq, seq]`, 0 where a query may attend to a key and -1e9 elsewhere. `scale`, when given,
 * multiplies the scores.
 */
function attention(graph: GraphBuilder, sizes: BodySizes, projections: { q: string; k: string; v: string }, bias: string, scale: number | undefined): string {
  const headDim = sizes.hidden / sizes.heads;
  const heads = graph.int64s([0, 0, sizes.heads, headDim]);
  const split = (t: string, perm: number[]) => graph.node('Transpose', [graph.node('Reshape', [t, heads])], [intsAttribute('perm', perm)]);
  const q = split(projections.q, [0, 2, 1, 3]); // [batch, heads, seq, head_dim]
  const kT = split(projections.k, [0, 2, 3, 1]); // [batch, heads, head_dim, seq]
  const v = split(projections.v, [0, 2, 1, 3]); // [batch, heads, seq, head_dim]

  let scores = graph.node('MatMul', [q, kT]); // [batch, heads, seq, seq]
  if (scale !== undefined) scores = graph.node('Mul', [scores, graph.scalar(scale)]);
  const weights = graph.node('Softmax', [graph.node('Add', [scores, bias])], [intAttribute('axis', -1)]);
  const mixed = graph.node('Transpose', [graph.node('MatMul', [weights, v])], [intsAttribute('perm', [0, 2, 1, 3])]); // [batch, seq, heads, head_dim]
  return graph.node('Reshape', [mixed, graph.int64s([0, 0, sizes.hidden])]); // [batch, seq, hidden]
}

// gelu with the tanh approximation (`gelu_new`): 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
function geluTanh(graph: GraphBuilder, x: string): string {
  const cube = graph.node('Mul', [graph.node('Mul', [x, x]), x]);
  const inner = graph.node('Mul', [graph.node('Add', [x, graph.node('Mul', [cube, graph.scalar(0.044715)])]), graph.scalar(Math.sqrt(2 / Math.PI))]);
  const gate = graph.node('Add', [graph.node('Tanh', [inner]), graph.scalar(1)]);
  return graph.node('Mul', [graph.node('Mul', [x, gate]), graph.scalar(0.5)]);
}

// exact gelu: 0.5 x (1 + erf(x / sqrt(2)))
function geluErf(graph: GraphBuilder, x: string): string {
  const gate = graph.node('Add', [graph.node('Erf', [graph.node('Mul', [x, graph.scalar(Math.SQRT1_2)])]), graph.scalar(1)]);
  return graph.node('Mul', [graph.node('Mul', [x, gate]), graph.scalar(0.5)]);
}

/**
 * Builds the GPT-Neo body up to `ln_f`. Inputs are `input_ids` and `position_ids` (int64
 * `[batch, seq]`), `global_bias` and `local_bias` (`[1, 1, seq, seq]`); the output is
 * `y [batch, seq, hidden]`. Scores are not scaled, as in GPT-Neo.
 */
export function gptNeoBodyGraph(values: ParameterValues, sizes: BodySizes, attentionLayers: readonly string[], epsilon: number): Uint8Array {
  const graph = new GraphBuilder();
  const { hidden, intermediate } = sizes;
  const ids = graph.input('input_ids', INT64, ['batch', 'seq']);
  const positions = graph.input('position_ids', INT64, ['batch', 'seq']);
  const biases: Record<string, string> = {
    global: graph.input('global_bias', FLOAT, [1, 1, 'seq', 'seq']),
    local: graph.input('local_bias', FLOAT, [1, 1, 'seq', 'seq']),
  };
  const embedding = (name: string, index: string) => graph.node('Gather', [graph.weight(values(name), [values(name).length / hidden, hidden]), index]);

  // embeddings, then pre-LayerNorm blocks
  let h = graph.node('Add', [embedding('transformer.wte.weight', ids), embedding('transformer.wpe.weight', positions)]); // [batch, seq, hidden]
  for (let i = 0; i < sizes.layers; i++) {
    const p = (name: string) => values(`transformer.h.${i}.${name}`);
    const a = graph.layerNorm(h, p('ln_1.weight'), p('ln_1.bias'), epsilon);
    const projections = {
      q: graph.linear(a, p('attn.attention.q_proj.weight'), hidden, hidden),
      k: graph.linear(a, p('attn.attention.k_proj.weight'), hidden, hidden),
      v: graph.linear(a, p('attn.attention.v_proj.weight'), hidden, hidden),
    };
    const mixed = attention(graph, sizes, projections, biases[attentionLayers[i]], undefined);
    h = graph.node('Add', [h, graph.linear(mixed, p('attn.attention.out_proj.weight'), hidden, hidden, p('attn.attention.out_proj.bias'))]);

    const m = graph.layerNorm(h, p('ln_2.weight'), p('ln_2.bias'), epsilon);
    const inner = geluTanh(graph, graph.linear(m, p('mlp.c_fc.weight'), intermediate, hidden, p('mlp.c_fc.bias'))); // [batch, seq, intermediate]
    h = graph.node('Add', [h, graph.linear(inner, p('mlp.c_proj.weight'), hidden, intermediate, p('mlp.c_proj.bias'))]);
  }
  graph.result(graph.layerNorm(h, values('transformer.ln_f.weight'), values('transformer.ln_f.bias'), epsilon), 3);
  return graph.encode('gpt-neo');
}

/**
 * Builds the RoBERTa encoder (`RobertaModel` names, no pooler). Inputs are `input_ids` and
 * `position_ids` (int64 `[batch, seq]`), every token real and of type 0; the output is
 * `y [batch, seq, hidden]`.
 */
export function robertaEncoderGraph(values: ParameterValues, sizes: BodySizes, epsilon: number): Uint8Array {
  const graph = new GraphBuilder();
  const { hidden, intermediate } = sizes;
  const ids = graph.input('input_ids', INT64, ['batch', 'seq']);
  const positions = graph.input('position_ids', INT64, ['batch', 'seq']);
  const embedding = (name: string, index: string) => graph.node('Gather', [graph.weight(values(name), [values(name).length / hidden, hidden]), index]);
  const noMask = graph.weight(new Float32Array(1), [1, 1, 1, 1]);

  // embeddings: word + position + token type 0, then LayerNorm
  const tokenType = graph.weight(values('embeddings.token_type_embeddings.weight').slice(0, hidden), [hidden]);
  const sum = graph.node('Add', [graph.node('Add', [embedding('embeddings.word_embeddings.weight', ids), embedding('embeddings.position_embeddings.weight', positions)]), tokenType]);
  let h = graph.layerNorm(sum, values('embeddings.LayerNorm.weight'), values('embeddings.LayerNorm.bias'), epsilon); // [batch, seq, hidden]

  // post-LayerNorm blocks
  for (let i = 0; i < sizes.layers; i++) {
    const p = (name: string) => values(`encoder.layer.${i}.${name}`);
    const projections = {
      q: graph.linear(h, p('attention.self.query.weight'), hidden, hidden, p('attention.self.query.bias')),
      k: graph.linear(h, p('attention.self.key.weight'), hidden, hidden, p('attention.self.key.bias')),
      v: graph.linear(h, p('attention.self.value.weight'), hidden, hidden, p('attention.self.value.bias')),
    };
    const mixed = attention(graph, sizes, projections, noMask, 1 / Math.sqrt(hidden / sizes.heads));
    const attended = graph.linear(mixed, p('attention.output.dense.weight'), hidden, hidden, p('attention.output.dense.bias'));
    h = graph.layerNorm(graph.node('Add', [attended, h]), p('attention.output.LayerNorm.weight'), p('attention.output.LayerNorm.bias'), epsilon);

    const inner = geluErf(graph, graph.linear(h, p('intermediate.dense.weight'), intermediate, hidden, p('intermediate.dense.bias'))); // [batch, seq, intermediate]
    const out = graph.linear(inner, p('output.dense.weight'), hidden, intermediate, p('output.dense.bias'));
    h = graph.layerNorm(graph.node('Add', [out, h]), p('output.LayerNorm.weight'), p('output.LayerNorm.bias'), epsilon);
  }
  graph.result(h, 3);
  return graph.encode('roberta');
}
