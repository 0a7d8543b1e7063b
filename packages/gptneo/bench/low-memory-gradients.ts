/**
 * An experiment for the benchmark, not product code: `tf.variableGrads` with the backward pass
 * freeing memory as it goes, to measure what that would change.
 *
 * tfjs-core 4.22 `Engine.gradients` keeps every tensor saved for backpropagation and every
 * intermediate gradient until the whole backward pass has finished. This version walks the same
 * tape but disposes a node's saved tensors and the gradients of its outputs as soon as the node
 * has passed its gradients on, so the peak holds roughly the activations not yet consumed plus
 * the parameter gradients. It reads engine internals (`state.activeTape`, tape nodes), which
 * tfjs does not export as API.
 */
import * as tf from '@tensorflow/tfjs-core';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

/**
 * Computes `f()` and its gradients with respect to every trainable variable it reads, as
 * `tf.variableGrads(f)` does, with a backward pass that frees memory early.
 */
export function lowMemoryVariableGrads(f: () => tf.Scalar): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = tf.engine() as unknown as EngineInternals;
  const variables = Object.values(tf.engine().registeredVariables).filter((variable) => variable.trainable);

  // forward pass under a tape
  const value = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy('forward', f),
  );
  const tape = engine.state.activeTape ?? [];
  const nodes = nodesBetween(tape, variables, value);

  const grads = engine.tidy('backward', () => {
    const accumulated = new Map<number, tf.Tensor>([[value.id, tf.onesLike(value)]]);
    const keepIds = new Set(variables.map((variable) => variable.id));

    for (let i = nodes.length - 1; i >= 0; i--) {
      const { node, inputs } = nodes[i];
      const dys = node.outputs.map((output) => accumulated.get(output.id) ?? null);
      if (dys.every((dy) => dy === null)) continue;
      if (!node.gradient) throw new Error(`Cannot compute gradient: no gradient function for ${node.kernelName}`);

      // Pass gradients to the inputs. One tidy frees what the gradient function made on the way,
      // because a custom gradient computes its results as soon as it is called.
      const gradient = node.gradient;
      const inputGradients = engine.tidy(() => {
        const closures = gradient(dys);
        const computed: tf.NamedTensorMap = {};
        for (const name of Object.keys(inputs)) computed[name] = closures[name]();
        return computed;
      });
      for (const [name, input] of Object.entries(inputs)) {
        const dx = inputGradients[name];
        const previous = accumulated.get(input.id);
        accumulated.set(input.id, previous ? tf.keep(tf.add(previous, dx)) : tf.keep(dx));
        if (previous) {
          previous.dispose();
          dx.dispose();
        }
      }

      // this node was the only producer of its outputs, so their gradients are done
      node.outputs.forEach((output) => {
        if (keepIds.has(output.id)) return;
        accumulated.get(output.id)?.dispose();
        accumulated.delete(output.id);
      });
      for (const saved of node.saved ?? []) saved.dispose();
      node.saved = [];
    }

    const result: tf.NamedTensorMap = {};
    for (const variable of variables) {
      const gradient = accumulated.get(variable.id);
      if (gradient) result[variable.name] = gradient;
    }
    return result;
  });

  // the rest of the tape (nodes that did not lead from a variable to the value)
  for (const node of tape) for (const saved of node.saved ?? []) saved.dispose();
  engine.state.activeTape = null;
  return { value, grads };
}

// Nodes on a path from one of `xs` to `y`, each with the inputs that come from the xs.
function nodesBetween(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): { node: TapeNode; inputs: Record<string, tf.Tensor> }[] {
  const fromX = new Set(xs.map((x) => x.id));
  const reachedFromX: boolean[] = tape.map((node) => {
    const reached = Object.values(node.inputs).some((input) => fromX.has(input.id));
    if (reached) for (const output of node.outputs) fromX.add(output.id);
    return reached;
  });

  const toY = new Set([y.id]);
  const leadsToY: boolean[] = new Array(tape.length).fill(false);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((output) => toY.has(output.id))) {
      leadsToY[i] = true;
      for (const input of Object.values(node.inputs)) toY.add(input.id);
    }
  }

  const result: { node: TapeNode; inputs: Record<string, tf.Tensor> }[] = [];
  tape.forEach((node, i) => {
    if (!reachedFromX[i] || !leadsToY[i]) return;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id) && toY.has(input.id)) inputs[name] = input;
    result.push({ node, inputs });
  });
  return result;
}
