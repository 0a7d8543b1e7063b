import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError } from '@modularevo/core-tensor';

import { compressionOf, readTextLines } from '../readers';
import { toClassificationData, type LabelledRow } from './classification-data';
import { requireExamples } from './fields';
import type { ClassificationReadOptions } from './mathqa';
import { namedSplits, splitOf, validateFractions, type SplitFractions } from './splits';
import type { ClassificationExample, SplitFiles, SplitName, TaskData, TaskDefinition } from './types';

/** Language identification (ModularEvo's multilingual task for GPT-Neo, on the Nordic DSL data). */
export const LANGID: TaskDefinition = {
  name: 'langid',
  description: 'Language identification: classify a sentence by its language',
  kind: 'classification',
  fields: { text: 'sentence', label: 'language' },
  splits: ['train', 'validation', 'test'],
  primaryMetric: 'accuracy',
  metrics: ['accuracy', 'macro-f1'],
};

/** Default split of a folder of per-language files. */
export const LANGID_SPLIT_FRACTIONS: SplitFractions = { train: 0.8, validation: 0.1, test: 0.1 };

/** Options of {@link readLangId}. */
export interface LangIdOptions extends ClassificationReadOptions {
  /** Split fractions for a folder of per-language files. Default 80 / 10 / 10. */
  fractions?: SplitFractions;
}

// prefixes some Nordic DSL releases put before the sentence
const NORDIC_DSL_PREFIXES = ['dataset10000, ', 'dataset50000, '];

/**
 * Parses one line of a Nordic DSL file (`nordic_dsl_10000train.csv` and the others): the
 * sentence, a space, and the two-letter language code (da, fo, is, nb, nn, sv), as the
 * strombergnlp/nordic_langid loader and ModularEvo read it. Returns undefined for a blank line.
 */
export function parseNordicDslLine(line: string, file: string, lineNumber: number): { sentence: string; language: string } | undefined {
  let text = line.trim();
  if (text.length === 0) return undefined;
  for (const prefix of NORDIC_DSL_PREFIXES) {
    if (text.startsWith(prefix)) {
      text = text.slice(prefix.length);
      break;
    }
  }

  const language = text.slice(-2);
  if (text.length < 4 || text[text.length - 3] !== ' ' || !/^[a-z]{2}$/.test(language)) {
    throw new CheckpointError(file, `line ${lineNumber} does not end with a space and a two-letter language code`, 'Expected "<sentence> <code>" per line');
  }
  return { sentence: text.slice(0, -3), language };
}

async function readNordicDsl(file: string, split: SplitName): Promise<LabelledRow[]> {
  const rows: LabelledRow[] = [];
  let lineNumber = 0;
  for await (const line of readTextLines(file, compressionOf(file))) {
    lineNumber += 1;
    const parsed = parseNordicDslLine(line, file, lineNumber);
    if (!parsed) continue;
    rows.push({ split, id: `${split}-${rows.length}`, text: parsed.sentence, label: parsed.language, where: `${file} line ${lineNumber}` });
  }
  requireExamples(rows.length, file, LANGID.name, split, 'sentences');
  return rows;
}

/** Reads a folder of `<language>.txt` files (the UDHR layout): one example per non-blank line. */
function readLanguageFolder(dir: string, fractions: SplitFractions): LabelledRow[] {
  const files = fs.readdirSync(dir).filter((name) => name.endsWith('.txt')).sort();
  if (files.length === 0) throw new CheckpointError(dir, 'has no .txt files', 'Expected one <language>.txt file per language');

  const rows: LabelledRow[] = [];
  for (const name of files) {
    const language = name.slice(0, -'.txt'.length);
    const lines = fs.readFileSync(path.join(dir, name), 'utf8').split(/\r?\n/);
    lines.forEach((line, index) => {
      const text = line.trim();
      if (text.length === 0) return;

      // the hash covers language and text, so one sentence shared by two languages splits independently
      rows.push({ split: splitOf(`${language}\n${text}`, fractions), id: `${language}:${index + 1}`, text, label: language, where: `${path.join(dir, name)} line ${index + 1}` });
    });
  }
  return rows;
}

/**
 * Reads language identification data from Nordic DSL files named per split
 * (`{train: 'nordic_dsl_10000train.csv', test: ...}`), or from a folder of one text file per
 * language (label = file name without `.txt`), split here by a hash of language and line.
 *
 * Throws `CheckpointError` for a Nordic DSL line without a language code, an empty file or an
 * empty split; `MismatchError` for a language outside `options.labels`.
 */
export async function readLangId(source: string | SplitFiles, options: LangIdOptions = {}): Promise<TaskData<ClassificationExample>> {
  let rows: LabelledRow[] = [];

  if (typeof source === 'string') {
    if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
      throw new CheckpointError(source, 'is not a folder of <language>.txt files', 'Pass the folder, or name the Nordic DSL files per split');
    }
    const fractions = options.fractions ?? LANGID_SPLIT_FRACTIONS;
    validateFractions(fractions);
    rows = readLanguageFolder(source, fractions);
    for (const split of LANGID.splits) {
      if (fractions[split] > 0) requireExamples(rows.filter((row) => row.split === split).length, source, LANGID.name, split, 'lines');
    }
  } else {
    for (const [split, file] of namedSplits(source, LANGID.name)) rows.push(...(await readNordicDsl(file, split)));
  }
  return toClassificationData(LANGID, rows, options.labels);
}
