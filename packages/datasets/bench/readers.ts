/**
 * Measures read throughput of the record readers on one synthetic corpus: 200,000 Pile-style
 * JSON Lines documents of about 375 bytes (75 MB). The corpus is written as plain JSON Lines,
 * gzip, zstd and Parquet into a temporary folder, and each file is read back whole with
 * `iterateRecords`.
 *
 * Run: `npx nx run datasets:bench` (or `npx ts-node --transpile-only bench/readers.ts` in
 * packages/datasets). Figures go to stdout as a Markdown table; the files are deleted at the end.
 *
 * NOTE: the zstd file holds raw (stored) blocks, because no zstd compressor is installed, so its
 * row measures the streaming path and fzstd's block handling but not entropy decoding. The files
 * were just written, so reads come from the OS page cache.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

import { parquetWriteBuffer } from 'hyparquet-writer';

import { iterateRecords } from '../src/readers';
import { zstdFrame } from '../src/testing/zstd-frame';

const DOCUMENTS = Number(process.env.MODULAREVO_BENCH_DOCUMENTS ?? 200_000);
const WORDS = ['the', 'court', 'held', 'that', 'model', 'merging', 'task', 'vector', 'sparse', 'module', 'evolution', 'parameter'];

/** Returns deterministic pseudo-random documents (a linear congruential generator, seed 1). */
function documents(): { text: string; meta: { pile_set_name: string } }[] {
  let state = 1;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: DOCUMENTS }, () => {
    const words = Array.from({ length: 40 + Math.floor(next() * 20) }, () => WORDS[Math.floor(next() * WORDS.length)]);
    return { text: words.join(' '), meta: { pile_set_name: 'FreeLaw' } };
  });
}

async function timeRead(file: string): Promise<{ seconds: number; records: number }> {
  const started = process.hrtime.bigint();
  let records = 0;
  for await (const _ of iterateRecords(file)) records += 1;
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, records };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modularevo-bench-readers-'));
  try {
    // write the same documents in every format
    const docs = documents();
    const jsonl = Buffer.from(docs.map((doc) => JSON.stringify(doc)).join('\n') + '\n');
    const files: [string, string][] = [
      ['JSON Lines', path.join(dir, 'train.jsonl')],
      ['JSON Lines gzip', path.join(dir, 'train.jsonl.gz')],
      ['JSON Lines zstd (stored blocks)', path.join(dir, 'train.jsonl.zst')],
      ['Parquet (Snappy)', path.join(dir, 'train.parquet')],
    ];
    fs.writeFileSync(files[0][1], jsonl);
    fs.writeFileSync(files[1][1], zlib.gzipSync(jsonl));
    fs.writeFileSync(files[2][1], zstdFrame(jsonl));
    fs.writeFileSync(files[3][1], new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: docs.map((doc) => doc.text), type: 'STRING' }] })));

    // one warm-up read, then the best of three
    console.log(`| format | file MB | records | best s | records/s | text MB/s |`);
    console.log(`| --- | --- | --- | --- | --- | --- |`);
    for (const [name, file] of files) {
      await timeRead(file);
      let best = { seconds: Infinity, records: 0 };
      for (let run = 0; run < 3; run += 1) {
        const result = await timeRead(file);
        if (result.seconds < best.seconds) best = result;
      }
      const fileMb = fs.statSync(file).size / 1e6;
      console.log(`| ${name} | ${fileMb.toFixed(1)} | ${best.records} | ${best.seconds.toFixed(2)} | ${Math.round(best.records / best.seconds)} | ${(jsonl.length / 1e6 / best.seconds).toFixed(1)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
