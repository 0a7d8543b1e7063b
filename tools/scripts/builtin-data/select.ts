/** Choosing corpus documents and task examples, and splitting them. */
import type { Rng } from '@modularevo/core-tensor';
import { hashFraction } from '@modularevo/datasets';

import type { CorpusDocument, LabelledText } from './types';

/** Cuts a document after the last paragraph (or line) break that keeps it within `maxBytes`. */
export function capDocument(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = Buffer.from(text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  const paragraph = cut.lastIndexOf('\n\n');
  const line = cut.lastIndexOf('\n');
  if (paragraph > maxBytes / 2) cut = cut.slice(0, paragraph);
  else if (line > 0) cut = cut.slice(0, line);
  return cut.trimEnd();
}

/**
 * Takes documents in the order of a hash of their text, which is a fixed pseudo-random order,
 * until `budgetBytes` is reached. Each document is cut to `maxDocumentBytes`, and exact
 * duplicates are dropped.
 */
export function selectDocuments(documents: CorpusDocument[], budgetBytes: number, maxDocumentBytes: number): CorpusDocument[] {
  const seen = new Set<string>();
  const ordered = documents
    .map((d) => ({ ...d, text: capDocument(d.text, maxDocumentBytes) }))
    .filter((d) => {
      const fresh = d.text.length > 0 && !seen.has(d.text);
      seen.add(d.text);
      return fresh;
    })
    .sort((a, b) => hashFraction(a.text) - hashFraction(b.text) || (a.text < b.text ? -1 : 1));

  const out: CorpusDocument[] = [];
  let bytes = 0;
  for (const d of ordered) {
    if (bytes >= budgetBytes) break;
    out.push(d);
    bytes += Buffer.byteLength(d.text);
  }
  return out;
}

/** Splits documents into train and test by a hash of the text (`testShare` of them to test). */
export function splitDocuments(documents: CorpusDocument[], testShare: number): { train: CorpusDocument[]; test: CorpusDocument[] } {
  return {
    train: documents.filter((d) => hashFraction(`split:${d.text}`) >= testShare),
    test: documents.filter((d) => hashFraction(`split:${d.text}`) < testShare),
  };
}

/** Task examples per split. */
export interface TaskSplits {
  train: LabelledText[];
  validation: LabelledText[];
  test: LabelledText[];
}

/** Options of {@link selectExamples}. */
export interface SelectOptions {
  /** Examples wanted in all, spread evenly over the classes kept. */
  examples: number;
  /** Classes with fewer candidates are dropped. */
  minPerClass: number;
  /** Share of each class in validation and test; the rest is train. */
  validationShare: number;
  testShare: number;
}

/**
 * Selects task examples from candidates. A text seen with two labels is dropped, and so is a
 * text that `allowed` rejects. Classes with fewer than `minPerClass` texts are dropped too.
 * Each remaining class gives up to `examples / classes` texts at random, split into train,
 * validation and test in the given shares. Returns the shuffled splits and the dropped labels
 * with their counts.
 */
export function selectExamples(candidates: LabelledText[], allowed: (text: string) => boolean, options: SelectOptions, rng: Rng): { splits: TaskSplits; dropped: Record<string, number> } {
  const labelsOf = new Map<string, Set<string>>();
  for (const c of candidates) {
    if (!labelsOf.has(c.text)) labelsOf.set(c.text, new Set());
    labelsOf.get(c.text)!.add(c.label);
  }

  const byLabel = new Map<string, string[]>();
  for (const [text, labels] of labelsOf) {
    if (labels.size !== 1 || !allowed(text)) continue;
    const label = [...labels][0];
    if (!byLabel.has(label)) byLabel.set(label, []);
    byLabel.get(label)!.push(text);
  }

  const dropped: Record<string, number> = {};
  const kept = [...byLabel.keys()].sort().filter((label) => {
    if (byLabel.get(label)!.length >= options.minPerClass) return true;
    dropped[label] = byLabel.get(label)!.length;
    return false;
  });
  const perClass = Math.ceil(options.examples / kept.length);

  const splits: TaskSplits = { train: [], validation: [], test: [] };
  for (const label of kept) {
    const chosen = rng.fork(label).shuffle([...byLabel.get(label)!].sort()).slice(0, perClass);
    const test = Math.round(chosen.length * options.testShare);
    const validation = Math.round(chosen.length * options.validationShare);
    chosen.forEach((text, i) => {
      let split: keyof TaskSplits = 'train';
      if (i < test) split = 'test';
      else if (i < test + validation) split = 'validation';
      splits[split].push({ text, label });
    });
  }

  for (const split of ['train', 'validation', 'test'] as const) rng.fork(`order/${split}`).shuffle(splits[split]);
  return { splits, dropped };
}
