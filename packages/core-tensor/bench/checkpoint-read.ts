/**
 * Read throughput of checkpoint files: a GPT-Neo-125M-shaped state dict (about 500 MB of
 * float32) is written as `model.safetensors` and as a `torch.save` zip `pytorch_model.bin`
 * into a temporary folder, then read back tensor by tensor and one tensor at a time.
 *
 * Run: `npx nx run core-tensor:bench` (or `npx ts-node --transpile-only bench/checkpoint-read.ts`
 * in packages/core-tensor). Figures go to stdout; the files are deleted at the end.
 *
 * NOTE: the files were just written, so they are read from the OS page cache. The figures
 * measure parsing and copying into JavaScript memory, not the disk.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { PyTorchFile, SafetensorsFile, numel, saveSafetensors, type CheckpointReader, type StateDict } from '../src/checkpoint';
import { torchSave, type TorchTensorSpec } from '../test/torch-save';

const RUNS = 5;
const MIDDLE_TENSOR = 'transformer.h.6.mlp.c_fc.weight';

/** Returns the parameter shapes of EleutherAI/gpt-neo-125M, without the tied lm_head (as save_pretrained stores it). */
function gptNeo125mShapes(): [string, number[]][] {
  const hidden = 768;
  const shapes: [string, number[]][] = [
    ['transformer.wte.weight', [50257, hidden]],
    ['transformer.wpe.weight', [2048, hidden]],
  ];
  for (let layer = 0; layer < 12; layer++) {
    const prefix = `transformer.h.${layer}`;
    shapes.push(
      [`${prefix}.ln_1.weight`, [hidden]],
      [`${prefix}.ln_1.bias`, [hidden]],
      [`${prefix}.attn.attention.k_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.v_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.q_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.out_proj.weight`, [hidden, hidden]],
      [`${prefix}.attn.attention.out_proj.bias`, [hidden]],
      [`${prefix}.ln_2.weight`, [hidden]],
      [`${prefix}.ln_2.bias`, [hidden]],
      [`${prefix}.mlp.c_fc.weight`, [4 * hidden, hidden]],
      [`${prefix}.mlp.c_fc.bias`, [4 * hidden]],
      [`${prefix}.mlp.c_proj.weight`, [hidden, 4 * hidden]],
      [`${prefix}.mlp.c_proj.bias`, [hidden]],
    );
  }
  shapes.push(['transformer.ln_f.weight', [hidden]], ['transformer.ln_f.bias', [hidden]]);
  return shapes;
}

/** Fills tensors with a cheap deterministic sequence, so the data is not all zeros. */
function makeState(): StateDict {
  const state: StateDict = new Map();
  let seed = 12345;
  for (const [name, shape] of gptNeo125mShapes()) {
    const data = new Float32Array(numel(shape));
    for (let i = 0; i < data.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
      data[i] = seed / 2 ** 33;
    }
    state.set(name, { dtype: 'F32', shape, data });
  }
  return state;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Opens the file, reads every tensor, closes it; returns MB/s over the tensor bytes. */
function readAll(open: () => CheckpointReader, totalBytes: number): number {
  const start = process.hrtime.bigint();
  const reader = open();
  for (const name of reader.keys()) reader.read(name);
  reader.close();
  return totalBytes / 1e6 / seconds(start);
}

/** Returns the time to open the file and the time to read one tensor, in milliseconds. */
function readOne(open: () => CheckpointReader, name: string): { openMs: number; readMs: number } {
  let start = process.hrtime.bigint();
  const reader = open();
  const openMs = seconds(start) * 1000;
  start = process.hrtime.bigint();
  reader.read(name);
  const readMs = seconds(start) * 1000;
  reader.close();
  return { openMs, readMs };
}

function report(label: string, open: () => CheckpointReader, totalBytes: number, middleBytes: number): void {
  const throughput = Array.from({ length: RUNS }, () => readAll(open, totalBytes));
  const single = Array.from({ length: RUNS }, () => readOne(open, MIDDLE_TENSOR));
  const openMs = median(single.map((run) => run.openMs));
  const readMs = median(single.map((run) => run.readMs));
  console.log(
    `${label.padEnd(18)} read all: ${median(throughput).toFixed(0)} MB/s (runs ${throughput.map((v) => v.toFixed(0)).join(', ')}); ` +
      `one tensor (${(middleBytes / 1e6).toFixed(1)} MB): open ${openMs.toFixed(2)} ms + read ${readMs.toFixed(2)} ms ` +
      `= ${(middleBytes / 1e6 / (readMs / 1000)).toFixed(0)} MB/s`,
  );
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modularevo-bench-'));
  try {
    // write both files
    console.error('generating a GPT-Neo-125M-shaped state dict ...');
    const state = makeState();
    const totalBytes = [...state.values()].reduce((sum, tensor) => sum + tensor.data.byteLength, 0);
    const middleBytes = state.get(MIDDLE_TENSOR)!.data.byteLength;

    const safetensorsPath = path.join(dir, 'model.safetensors');
    const binPath = path.join(dir, 'pytorch_model.bin');
    console.error('writing model.safetensors and pytorch_model.bin ...');
    saveSafetensors(safetensorsPath, state);
    const tensors: [string, TorchTensorSpec][] = [...state].map(([name, tensor]) => [
      name,
      { storage: { dtype: tensor.dtype, data: tensor.data }, shape: tensor.shape },
    ]);
    torchSave(binPath, tensors, { archiveName: 'pytorch_model' });

    // a strided view: c_fc stored transposed, as a .bin may hold a non-contiguous tensor
    const stridedPath = path.join(dir, 'strided.bin');
    const cFc = state.get(MIDDLE_TENSOR)!;
    torchSave(stridedPath, [[MIDDLE_TENSOR, { storage: { dtype: 'F32', data: cFc.data }, shape: [768, 3072], stride: [1, 768] }]]);

    // measure
    console.log(
      `checkpoint read, ${state.size} tensors, ${(totalBytes / 1e6).toFixed(1)} MB of float32, Node ${process.version}, ` +
        `${os.cpus()[0]?.model ?? 'unknown CPU'}, files in the page cache, median of ${RUNS} runs`,
    );
    report('model.safetensors', () => SafetensorsFile.open(safetensorsPath), totalBytes, middleBytes);
    report('pytorch_model.bin', () => PyTorchFile.open(binPath), totalBytes, middleBytes);
    report('  without CRC-32', () => PyTorchFile.open(binPath, { verifyCrc: false }), totalBytes, middleBytes);
    const strided = Array.from({ length: RUNS }, () => readOne(() => PyTorchFile.open(stridedPath), MIDDLE_TENSOR).readMs);
    console.log(
      `strided .bin view  one transposed tensor (${(middleBytes / 1e6).toFixed(1)} MB): read ${median(strided).toFixed(2)} ms ` +
        `= ${(middleBytes / 1e6 / (median(strided) / 1000)).toFixed(0)} MB/s`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
