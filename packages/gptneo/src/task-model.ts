/**
 * A GPT-Neo classifier behind the `TaskModel` interface of `@modularevo/masking`, which the
 * generic fine-tuner uses. It takes batches of padded token ids with class labels, trains on the
 * cross-entropy loss, and reports accuracy, macro-F1 and loss as evaluation metrics.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { ForwardOptions } from '@modularevo/core-tensor';
import { accuracy, macroF1 } from '@modularevo/datasets';
import type { EvaluateOptions, TaskModel } from '@modularevo/masking';

import type { GPTNeoWithClassificationHead } from './classifier';
import type { GPTNeoForCausalLM } from './model';

/** A padded batch of classification inputs, row-major, as `collateLabelled` makes it. */
export interface ClassificationBatch {
  /** `[batch, seq]` token ids, padded on the right with the EOS id. */
  inputIds: Int32Array;
  /** `[batch, seq]`: 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
  shape: [number, number];
  /** `[batch]` class ids. */
  labels: Int32Array;
}

/** Metrics of {@link GPTNeoTaskModel.evaluate}. */
export interface ClassificationMetrics extends Record<string, number> {
  /** Fraction of examples whose highest-scoring class is their label, in [0, 1]. */
  accuracy: number;
  /** Unweighted mean F1 over the classes that occur in labels or predictions (scikit-learn `average="macro"`), in [0, 1]. */
  'macro-f1': number;
  /** Mean cross-entropy per example, in nats. */
  loss: number;
  /** Number of examples scored. */
  examples: number;
}

/** A GPT-Neo body with the ModularEvo classification head, for one task. */
export class GPTNeoTaskModel implements TaskModel<ClassificationBatch> {
  readonly task: string;
  readonly labels: string[];

  /** @param classifier - the model, which this task model owns from now on ({@link dispose} releases it) */
  constructor(readonly classifier: GPTNeoWithClassificationHead) {
    this.task = classifier.task.task;
    this.labels = classifier.task.labels;
  }

  get base(): GPTNeoForCausalLM {
    return this.classifier.base;
  }

  get head(): Map<string, tf.Variable> {
    return this.classifier.head;
  }

  /** Mean cross-entropy of the class logits of one batch. */
  loss(batch: ClassificationBatch, options: ForwardOptions = {}): tf.Scalar {
    return tf.tidy(() => this.classifier.loss(inputsOf(batch), batch.labels, options));
  }

  /**
   * Scores the model on `batches`: accuracy, macro-F1 and the mean loss per example. Masks or
   * sparse kernels apply through `options.linear`.
   */
  async evaluate(batches: ClassificationBatch[], options: EvaluateOptions = {}): Promise<ClassificationMetrics> {
    const predictions: number[] = [];
    const labels: number[] = [];
    let lossSum = 0;

    for (const batch of batches) {
      const [rowLoss, predicted] = tf.tidy(() => {
        const logits = this.classifier.forward(inputsOf(batch), { linear: options.linear }); // [batch, classes]
        const loss = this.classifier.lossFromLogits(logits, batch.labels);
        return [loss, tf.argMax(logits, 1)]; // [], [batch]
      });
      lossSum += (await rowLoss.data())[0] * batch.shape[0];
      predictions.push(...(await predicted.data()));
      labels.push(...batch.labels);
      tf.dispose([rowLoss, predicted]);
    }

    return { accuracy: accuracy(predictions, labels), 'macro-f1': macroF1(predictions, labels), loss: lossSum / labels.length, examples: labels.length };
  }

  /** Writes the classifier folder (`config.json`, `model.safetensors` with `classification_head.*`, tokenizer, `task.json`). */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await this.classifier.save(dir, { overwrite: options.overwrite });
  }

  /** Releases the head and the base model. */
  dispose(): void {
    this.classifier.dispose();
  }
}

function inputsOf(batch: ClassificationBatch) {
  return {
    inputIds: tf.tensor2d(batch.inputIds, batch.shape, 'int32'), // [batch, seq]
    attentionMask: tf.tensor2d(batch.attentionMask, batch.shape, 'int32'), // [batch, seq]
  };
}
