/**
 * Generation-based evaluation: generate a prediction for every example, decode it as CodeT5's
 * `run_gen.py` does (special tokens skipped, no clean-up of tokenization spaces), and write the
 * predictions next to the references in the files CodeXGLUE's evaluators read.
 */
import * as fs from 'fs';
import * as path from 'path';

import { InvalidInputError, ProgressBar, writeFileAtomic, type LinearFn } from '@modularevo/core-tensor';
import { pythonStrip } from '@modularevo/datasets';

import { generate } from './generation';
import type { CodeT5PretrainedModel } from './pretrained-model';
import type { Seq2SeqBatch } from './seq2seq-batches';

/** Generation settings of predictions. */
export interface PredictionSettings {
  /** Beams per input; 1 is greedy search. */
  numBeams: number;
  /** Output length limit, counting the decoder start token (CodeT5 passes `max_target_length`). */
  maxLength: number;
  /** Stop a beam search input once it has `numBeams` finished hypotheses. */
  earlyStopping: boolean;
}

/** One example with its generated text. */
export interface Prediction {
  id: string;
  source: string;
  /** Reference text. */
  target: string;
  /** Generated text on one line, stripped. */
  prediction: string;
}

/** Options of {@link generatePredictions}. */
export interface PredictOptions {
  /** Replaces how linear layers compute (module masks, sparse kernels). */
  linear?: LinearFn;
  /** Draw a progress bar on stderr (default true). */
  progress?: boolean;
  /** Name on the progress bar (default `generate`). */
  label?: string;
}

/**
 * Line layout of the prediction files: `indexed` writes `idx<TAB>text` (CodeXGLUE code-to-text,
 * read by `smooth_bleu.py`), `plain` writes the text alone (CodeXGLUE text-to-code, read by its
 * `evaluator.py` and CodeT5's `_bleu`).
 */
export type PredictionFileFormat = 'indexed' | 'plain';

/**
 * Generates and decodes a prediction for every row of `batches`, in batch order.
 *
 * @throws InvalidInputError for an invalid generation setting (for example `numBeams` 0)
 */
export function generatePredictions(
  model: CodeT5PretrainedModel,
  batches: readonly Seq2SeqBatch[],
  settings: PredictionSettings,
  options: PredictOptions = {},
): Prediction[] {
  checkPredictionSettings(settings);
  const tokenizer = model.tokenizer();
  const total = batches.reduce((sum, batch) => sum + batch.rows, 0);
  const progress = new ProgressBar({ label: options.label ?? 'generate', total, unit: 'examples', enabled: options.progress ?? true });
  const predictions: Prediction[] = [];

  progress.start();
  try {
    for (const batch of batches) {
      const inputIds = rowsOf(batch.inputIds, batch.rows, batch.sourceLength);
      const attentionMask = rowsOf(batch.attentionMask, batch.rows, batch.sourceLength);
      const { sequences } = generate(model.t5, inputIds, {
        attentionMask,
        numBeams: settings.numBeams,
        maxLength: settings.maxLength,
        earlyStopping: settings.earlyStopping,
        linear: options.linear,
      });

      sequences.forEach((ids, row) => {
        const text = tokenizer.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false });
        predictions.push({ id: batch.exampleIds[row], source: batch.sources[row], target: batch.targets[row], prediction: oneLine(text) });
      });
      progress.update(predictions.length);
    }
  } finally {
    progress.stop();
  }
  return predictions;
}

/**
 * Writes `<split>.output` (predictions), `<split>.gold` (references) and `<split>.src` (sources)
 * into `dir`, one line per example in `format`. Line breaks and tabs inside a text become spaces,
 * so every example stays on one line. Each file appears only when complete.
 *
 * @returns the paths of the three files
 */
export function writePredictionFiles(dir: string, split: string, predictions: readonly Prediction[], format: PredictionFileFormat): { output: string; gold: string; src: string } {
  if (!/^[A-Za-z0-9_.-]+$/.test(split)) throw new InvalidInputError(`Invalid split name "${split}" for prediction files: use letters, digits, dots, dashes or underscores`);
  fs.mkdirSync(dir, { recursive: true });
  const line = (id: string, text: string) => (format === 'indexed' ? `${id}\t${oneLine(text)}\n` : `${oneLine(text)}\n`);
  const files = { output: path.join(dir, `${split}.output`), gold: path.join(dir, `${split}.gold`), src: path.join(dir, `${split}.src`) };

  writeFileAtomic(files.output, predictions.map((p) => line(p.id, p.prediction)).join(''));
  writeFileAtomic(files.gold, predictions.map((p) => line(p.id, p.target)).join(''));
  writeFileAtomic(files.src, predictions.map((p) => line(p.id, p.source)).join(''));
  return files;
}

/**
 * Checks generation settings.
 *
 * @throws InvalidInputError naming the invalid setting
 */
export function checkPredictionSettings(settings: PredictionSettings): void {
  if (!Number.isSafeInteger(settings.numBeams) || settings.numBeams < 1) {
    throw new InvalidInputError(`numBeams must be a positive integer (1 for greedy search), not ${settings.numBeams}`);
  }
  if (!Number.isSafeInteger(settings.maxLength) || settings.maxLength < 2) {
    throw new InvalidInputError(`The generation length limit must be an integer of at least 2 (start token and one token), not ${settings.maxLength}`);
  }
}

/** Puts a text on one stripped line: line breaks and tabs become spaces. */
function oneLine(text: string): string {
  return pythonStrip(text.replace(/[\r\n\t]/g, ' '));
}

function rowsOf(values: Int32Array, rows: number, columns: number): number[][] {
  return Array.from({ length: rows }, (_, row) => Array.from(values.subarray(row * columns, (row + 1) * columns)));
}
