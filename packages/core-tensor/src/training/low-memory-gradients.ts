/**
 * `tf.variableGrads` with a backward pass that frees memory as it goes.
 *
 * tfjs-core 4.22 `Engine.gradients` keeps every tensor saved for backpropagation and every
 * intermediate gradient until the whole backward pass has finished, so its peak is about all
 * activations plus all their gradients. This version walks the same tape in the same order with
 * the same gradient functions, so the gradients are identical. It frees a node's saved tensors
 * and the gradients of its outputs as soon as the node has passed its gradients on, so the peak
 * is the activations not yet consumed plus the gradients still to be used.
 *
 * NOTE: it reads internals of @tensorflow/tfjs-core 4.22.0 (`state.activeTape`, tape nodes,
 * `scopedRun`, `startTape`), which core-tensor pins to that version. Its tests compare it with
 * `tf.variableGrads`, so a change of these internals fails them.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A node of the gradient tape of tfjs-core 4.22.0. */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

/** The parts of tfjs-core's `Engine` that the backward pass uses. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, fn: () => T): T;
}

/** A tape node on a path from a variable to the value, with only the inputs that come from a variable. */
interface PathNode {
  node: TapeNode;
  inputs: Record<string, tf.Tensor>;
}

const NO_CONNECTION =
  'Cannot find a connection between any variable and the result of the loss function y=f(x). ' +
  'Please make sure the operations that use variables are inside the function f passed to minimize().';

/**
 * Computes `f()` and its gradients with respect to the trainable variables in `varList` (by
 * default every trainable variable), with the results of `tf.variableGrads(f, varList)`. Unlike
 * that function, it frees each saved tensor and intermediate gradient as soon as the backward pass
 * has used it. A GPT-Neo-125M training step on wasm fits in the 4 GiB heap only this way.
 *
 * Called while another gradient is being recorded (a gradient of a gradient), it runs
 * `tf.variableGrads`, because the outer tape still needs the saved tensors.
 *
 * @returns the value (a scalar) and one gradient per variable name; a non-trainable variable named
 *   in `varList` gets `null`, as in `tf.variableGrads`. The caller owns the returned tensors.
 * @throws Error with the messages of `tf.variableGrads` when no variable is trainable, `f` does not
 *   return a scalar, or the value depends on none of the variables. Every tensor of the step is
 *   freed before it throws.
 */
export function lowMemoryVariableGrads(
  f: () => tf.Scalar,
  varList?: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.state.gradientDepth > 0) return tf.variableGrads(f, varList);

  // trainable variables, as tf.variableGrads selects them
  const candidates = varList ?? Object.values(tf.engine().registeredVariables);
  const variables = candidates.filter((variable) => variable.trainable);
  if (variables.length === 0) {
    throw new Error(
      `variableGrads() expects at least one of the input variables to be trainable, but none of the ${candidates.length} variables is trainable.`,
    );
  }

  // forward pass under a new tape
  let value: tf.Tensor;
  try {
    value = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
  } catch (error) {
    releaseTape(engine);
    throw error;
  }

  let grads: Map<tf.Variable, tf.Tensor>;
  try {
    if (!(value instanceof tf.Tensor) || value.rank !== 0) {
      const rank = value instanceof tf.Tensor ? `a rank-${value.rank} tensor` : 'no tensor';
      throw new Error(`The f passed in variableGrads(f) must return a scalar, but it returned ${rank}`);
    }
    const path = nodesOnPath(engine.state.activeTape ?? [], variables, value);
    if (path.length === 0) throw new Error(NO_CONNECTION);
    grads = backpropagate(engine, path, variables, value);
  } catch (error) {
    if (value instanceof tf.Tensor) value.dispose();
    throw error;
  } finally {
    releaseTape(engine);
  }
  if (grads.size === 0) {
    value.dispose();
    throw new Error(NO_CONNECTION);
  }

  const named: tf.NamedTensorMap = {};
  for (const variable of variables) {
    const gradient = grads.get(variable);
    if (gradient) named[variable.name] = gradient;
  }
  if (varList) {
    for (const variable of varList) if (!variable.trainable) named[variable.name] = null as unknown as tf.Tensor;
  }
  return { value: value as tf.Scalar, grads: named };
}

/**
 * Walks `path` backwards from `value` and returns the gradient of each variable that one reaches.
 * Every other tensor it creates, and every saved tensor of the nodes it passes, is freed on the way.
 */
function backpropagate(engine: EngineInternals, path: PathNode[], variables: tf.Variable[], value: tf.Tensor): Map<tf.Variable, tf.Tensor> {
  const accumulated = new Map<number, tf.Tensor>([[value.id, tf.onesLike(value)]]);
  const variableIds = new Set(variables.map((variable) => variable.id));

  try {
    for (let i = path.length - 1; i >= 0; i--) {
      const { node, inputs } = path[i];
      const dys = node.outputs.map((output) => accumulated.get(output.id) ?? null);
      const inputGradients = gradientsOfNode(engine, node, inputs, dys);

      // add to the gradients of the inputs, in tfjs's order: the sum so far plus the new term
      for (const [name, input] of Object.entries(inputs)) {
        const dx = inputGradients[name];
        const previous = accumulated.get(input.id);
        if (!previous) {
          accumulated.set(input.id, dx);
          continue;
        }
        accumulated.set(input.id, tf.add(previous, dx));
        tf.dispose([previous, dx]);
      }

      // this node produced its outputs, so nothing adds to their gradients any more
      for (const output of node.outputs) {
        if (variableIds.has(output.id)) continue;
        accumulated.get(output.id)?.dispose();
        accumulated.delete(output.id);
      }
      for (const saved of node.saved ?? []) saved.dispose();
    }
  } catch (error) {
    tf.dispose([...accumulated.values()]);
    throw error;
  }

  // only variables are left, unless a gradient reached a tensor no node on the path produced
  const result = new Map<tf.Variable, tf.Tensor>();
  for (const variable of variables) {
    const gradient = accumulated.get(variable.id);
    if (gradient) result.set(variable, gradient);
    accumulated.delete(variable.id);
  }
  tf.dispose([...accumulated.values()]);
  return result;
}

/**
 * Computes the gradient of each of `inputs` from the output gradients `dys`, with the checks of
 * tfjs's backward pass. One scope frees what the gradient function computed on the way (a custom
 * gradient computes every result as soon as it is called), and each input's gradient runs in its
 * own scope, as in tfjs.
 */
function gradientsOfNode(
  engine: EngineInternals,
  node: TapeNode,
  inputs: Record<string, tf.Tensor>,
  dys: (tf.Tensor | null)[],
): Record<string, tf.Tensor> {
  const gradient = node.gradient;
  if (!gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);

  return engine.tidy(node.kernelName, () => {
    const closures = gradient(dys);
    const result: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(inputs)) {
      if (!(name in closures)) {
        throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(closures)}.`);
      }
      let dx = engine.tidy(name, () => closures[name]());

      // A gradient may return dy itself, a saved tensor, or one tensor for two inputs. Each input
      // gets its own tensor (a clone shares memory on wasm and cpu), because this backward pass
      // frees output gradients and saved tensors while input gradients live on.
      if (dys.includes(dx) || (node.saved ?? []).includes(dx) || Object.values(result).includes(dx)) dx = tf.clone(dx);
      if (dx.dtype !== 'float32') {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`,
        );
      }
      if (!tf.util.arraysEqual(dx.shape, input.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', ` +
            `which does not match the shape of the input '${input.shape}'`,
        );
      }
      result[name] = dx;
    }
    return result;
  });
}

/**
 * Returns the nodes of `tape` that lie on a path from one of `xs` to `y`, in tape order, each with
 * the inputs that depend on the xs (the others need no gradient). Selects what tfjs's
 * `getFilteredNodesXToY` selects.
 */
function nodesOnPath(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): PathNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const reachedFromX = tape.map((node) => {
    const reached = Object.values(node.inputs).some((input) => fromX.has(input.id));
    if (reached) for (const output of node.outputs) fromX.add(output.id);
    return reached;
  });

  const toY = new Set([y.id]);
  const leadsToY = new Array<boolean>(tape.length).fill(false);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (!node.outputs.some((output) => toY.has(output.id))) continue;
    leadsToY[i] = true;
    for (const input of Object.values(node.inputs)) toY.add(input.id);
  }

  const path: PathNode[] = [];
  tape.forEach((node, i) => {
    if (!reachedFromX[i] || !leadsToY[i]) return;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input;
    path.push({ node, inputs });
  });
  return path;
}

/** Frees the saved tensors of every node on the active tape and ends it. */
function releaseTape(engine: EngineInternals): void {
  for (const node of engine.state.activeTape ?? []) for (const saved of node.saved ?? []) saved.dispose();
  engine.state.activeTape = null;
}
