/**
 * CoSQA code search through the generic fine-tuner, in full, on the CoSQA subset of the
 * reference data. The subset is one file (400 query-code pairs of the published dev split), so
 * the search task splits it 60/20/20 by a hash of the code into train, validation and test.
 *
 * NOTE: the tiny fixture model learns the training pairs but does not generalize to the test
 * pairs: with the settings below and seeds 1 to 5, test accuracy was 0.46 to 0.49 against a
 * majority-class rate of 0.54 (validation 0.57 to 0.63). So this test checks that code search
 * trains and is scored against the baseline, not that it beats it. Small RoBERTa models with an
 * 8192-token byte-level BPE, with and without masked-LM pre-training, did no better: the Limits
 * section of the package README lists their figures.
 */
import * as path from 'path';

import { initBackend, readMetrics, setLogLevel } from '@modularevo/core-tensor';
import type { PairExample } from '@modularevo/datasets';
import { finetune, type FinetuneSummary } from '@modularevo/masking';
import { dataset, temporaryDir } from '@modularevo/test-support';

import { architecture } from '../src/architecture';
import { fixtureOfClass, majorityRate } from './fixtures';

const mlmDir = fixtureOfClass('RobertaForMaskedLM');

// Run from the repository root, Jest ignores the preset's per-project testTimeout.
jest.setTimeout(300_000);

describe('full code-search fine-tuning on CoSQA', () => {
  const runDir = path.join(temporaryDir(), 'search-run');
  let summary: FinetuneSummary;
  let test: PairExample[];

  beforeAll(async () => {
    await initBackend();
    setLogLevel('warn');
    test = (await architecture.tasks.search.load(dataset('cosqa'))).splits.test as PairExample[];
    summary = await finetune({
      architecture,
      model: mlmDir,
      task: 'search',
      data: dataset('cosqa'),
      full: true,
      outDir: path.join(temporaryDir(), 'search'),
      runDir,
      batchSize: 16,
      evalBatchSize: 64,
      epochs: 6,
      lr: 1e-3,
      patience: 0,
      progress: false,
    });
  });
  afterAll(() => setLogLevel('info'));

  it('splits the single file by code', () => {
    const { train, validation, test: testCount } = summary.examples;
    expect(train! + validation! + testCount!).toBe(400);
    expect(testCount).toBe(test.length);
    expect(train).toBeGreaterThan(2 * testCount!);
  });

  it('scores the test split against its majority class', () => {
    const rate = majorityRate(test.map((example) => example.label));
    expect(summary.majorityBaseline!.accuracy).toBe(rate);
    expect(summary.majorityBaseline!.examples).toBe(test.length);
    for (const metric of ['accuracy', 'precision', 'recall', 'f1']) {
      expect(summary.test![metric]).toBeGreaterThanOrEqual(0);
      expect(summary.test![metric]).toBeLessThanOrEqual(1);
    }
  });

  it('lowers the training loss', () => {
    const losses = readMetrics(path.join(runDir, 'metrics.jsonl'))
      .filter((line) => typeof line.loss === 'number')
      .map((line) => line.loss as number);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    // each line has the mean training loss of 10 steps: the last 10 against the first 10
    expect(losses.length).toBe(summary.training.steps / 10);
    expect(mean(losses.slice(-1))).toBeLessThan(mean(losses.slice(0, 1)));
  });
});
