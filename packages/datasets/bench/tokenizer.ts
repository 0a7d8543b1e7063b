/**
 * Measures tokenizer throughput. It encodes the DM Mathematics and FreeLaw training texts of the
 * reference data with the tokenizer of every model fixture. These are byte-level BPE tokenizers
 * with 1,000-token vocabularies, so texts split into many short tokens. It reports tokens and
 * megabytes of text per second next to the bare `@huggingface/tokenizers` call that
 * `Tokenizer.encode` wraps (the wrapper adds the whitespace-compatible pre-tokenizer, truncation
 * and special tokens). Token counts in both rows are those of `Tokenizer.encode`.
 *
 * Run: `npx nx run datasets:bench`. Finds the model folders and texts through
 * `MODULAREVO_FIXTURES` and `MODULAREVO_DATASETS`, as the tests do.
 */
import { Tokenizer as HfJsTokenizer } from '@huggingface/tokenizers';

import { dataset, modelFixtures } from '../../../test/support/reference-data';
import { readCorpusTexts } from '../src/corpora';
import { buildByteLevelBpe, loadTokenizer } from '../src/tokenizer';

/** Times `runs` alternately, round after round, and returns the best seconds of each, so load from other processes hits both alike. */
function bestSecondsInterleaved(runs: (() => void)[], rounds = 5): number[] {
  runs.forEach((run) => run());
  const best = runs.map(() => Infinity);
  for (let round = 0; round < rounds; round += 1) {
    runs.forEach((run, index) => {
      const started = process.hrtime.bigint();
      run();
      best[index] = Math.min(best[index], Number(process.hrtime.bigint() - started) / 1e9);
    });
  }
  return best;
}

async function main(): Promise<void> {
  const texts = [...(await readCorpusTexts(dataset('dm_mathematics'))), ...(await readCorpusTexts(dataset('freelaw')))];
  const megabytes = texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0) / 1e6;

  console.log(`| model | path | tokens | best s | tokens/s | text MB/s |`);
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  for (const { name, dir } of modelFixtures()) {
    const tokenizer = loadTokenizer(dir);
    const bare = new HfJsTokenizer(buildByteLevelBpe(dir).tokenizerJson, {});
    let tokens = 0;

    const rows: [string, () => void][] = [
      ['Tokenizer.encode', () => (tokens = texts.reduce((sum, text) => sum + tokenizer.encode(text).length, 0))],
      ['@huggingface/tokenizers encode', () => void texts.forEach((text) => bare.encode(text))],
    ];
    const seconds = bestSecondsInterleaved(rows.map(([, run]) => run));
    rows.forEach(([label], index) => {
      console.log(`| ${name} | ${label} | ${tokens} | ${seconds[index].toFixed(2)} | ${Math.round(tokens / seconds[index])} | ${(megabytes / seconds[index]).toFixed(2)} |`);
    });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
