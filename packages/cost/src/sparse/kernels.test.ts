import { csrFromMasked, csrToDense, type CsrMatrix } from './csr';
import { prepareMatrix, setSparseKernel, sparseKernelStatus, type SparseKernelName } from './kernels';

/** A small seeded uniform generator (mulberry32), so every case is reproducible. */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(length: number, random: () => number): Float32Array {
  return Float32Array.from({ length }, () => random() * 2 - 1);
}

/** y [tokens, rows] = x W^T + bias, in float64 from the dense values. */
function reference(w: CsrMatrix, x: Float32Array, tokens: number, bias?: Float32Array): Float64Array {
  const dense = csrToDense(w);
  const y = new Float64Array(tokens * w.rows);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < w.rows; r++) {
      let sum = bias ? bias[r] : 0;
      for (let c = 0; c < w.cols; c++) sum += x[t * w.cols + c] * dense[r * w.cols + c];
      y[t * w.rows + r] = sum;
    }
  }
  return y;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

interface Case {
  name: string;
  rows: number;
  cols: number;
  tokens: number;
  /** Fraction of mask entries kept, or a function choosing the kept entries. */
  keep: number | ((row: number, col: number) => boolean);
  bias?: boolean;
  /** Largest allowed |kernel - float64 reference|; default 1e-5. */
  tolerance?: number;
}

const CASES: Case[] = [
  { name: 'one token', rows: 37, cols: 53, tokens: 1, keep: 0.3, bias: true },
  { name: 'odd sizes', rows: 19, cols: 45, tokens: 17, keep: 0.5, bias: true },
  { name: 'tokens past one block', rows: 33, cols: 70, tokens: 131, keep: 0.25 },
  { name: 'several blocks, few tokens left', rows: 48, cols: 31, tokens: 257, keep: 0.4, bias: true },
  // about 750 float32 products of up to 1 per output: rounding reaches a few 1e-5
  { name: 'wide rows over several column ranges and blocks', rows: 50, cols: 3001, tokens: 70, keep: 0.25, bias: true, tolerance: 1e-4 },
  { name: 'empty rows', rows: 40, cols: 24, tokens: 9, keep: (row) => row % 3 !== 0 && row !== 39 },
  { name: 'one entry kept', rows: 23, cols: 29, tokens: 21, keep: (row, col) => row === 11 && col === 28, bias: true },
  { name: 'no entry kept', rows: 5, cols: 7, tokens: 3, keep: () => false, bias: true },
  { name: 'every entry kept', rows: 16, cols: 16, tokens: 16, keep: 1 },
  { name: 'one column', rows: 9, cols: 1, tokens: 5, keep: 1, bias: true },
  // an AVX-512 build of the native kernel stores 16-bit column indices up to 65536 columns, 32-bit ones beyond
  { name: 'more columns than 16-bit indices reach', rows: 3, cols: 70001, tokens: 3, keep: (row, col) => col % 997 === row || col === 70000, bias: true },
  { name: 'no tokens', rows: 8, cols: 8, tokens: 0, keep: 0.5 },
];

const KERNELS: SparseKernelName[] = sparseKernelStatus().kernel === 'native' ? ['native', 'typescript'] : ['typescript'];

afterEach(() => setSparseKernel(undefined));

describe.each(KERNELS)('%s sparse kernel', (kernel) => {
  it.each(CASES)('matches the dense product: $name', ({ rows, cols, tokens, keep, bias, tolerance }) => {
    setSparseKernel(kernel);
    const random = uniform(rows * 1000 + cols * 10 + tokens);
    const weight = randomArray(rows * cols, random);
    const mask = Uint8Array.from({ length: rows * cols }, (_, i) =>
      (typeof keep === 'number' ? random() < keep : keep(Math.floor(i / cols), i % cols)) ? 1 : 0,
    );
    const csr = csrFromMasked(weight, rows, cols, mask);
    const x = randomArray(tokens * cols, random);
    const b = bias ? randomArray(rows, random) : undefined;

    const prepared = prepareMatrix(csr);
    const y = new Float32Array(tokens * rows).fill(Number.NaN);
    prepared.multiply(x, tokens, b, y);

    expect(prepared.kernel).toBe(kernel);
    expect(maxAbsDiff(y, reference(csr, x, tokens, b))).toBeLessThan(tolerance ?? 1e-5);
  });
});

describe('native sparse kernel', () => {
  const native = sparseKernelStatus().kernel === 'native';

  it('is in use unless disabled', () => {
    // the install script never fails, so a missing addon would otherwise go unnoticed
    if (process.env.MODULAREVO_NATIVE === '0') {
      expect(sparseKernelStatus()).toEqual({ kernel: 'typescript', threads: 1, reason: 'MODULAREVO_NATIVE=0' });
    } else {
      expect(sparseKernelStatus()).toMatchObject({ kernel: 'native', threads: expect.any(Number), instructionSet: expect.any(String) });
    }
  });

  (native ? it : it.skip)('rejects a column index outside the matrix', () => {
    const csr: CsrMatrix = { rows: 1, cols: 2, rowPtr: Int32Array.from([0, 1]), colIdx: Int32Array.from([2]), values: Float32Array.from([1]) };
    expect(() => prepareMatrix(csr)).toThrow(/column index is outside/);
  });

  (native ? it : it.skip)('rejects buffers of the wrong length', () => {
    const prepared = prepareMatrix(csrFromMasked(new Float32Array(6).fill(1), 2, 3));
    expect(() => prepared.multiply(new Float32Array(5), 2, undefined, new Float32Array(4))).toThrow(/tokens \* cols/);
    expect(() => prepared.multiply(new Float32Array(6), 2, new Float32Array(3), new Float32Array(4))).toThrow(/bias length/);
  });
});

describe('csrFromMasked', () => {
  it('drops masked-out and zero weights', () => {
    const csr = csrFromMasked(Float32Array.from([1, 0, 3, 4, 5, 6]), 2, 3, Uint8Array.from([1, 1, 0, 0, 1, 1]));
    expect(Array.from(csr.rowPtr)).toEqual([0, 1, 3]);
    expect(Array.from(csr.colIdx)).toEqual([0, 1, 2]);
    expect(Array.from(csr.values)).toEqual([1, 5, 6]);
  });

  it('rejects a mask of another length', () => {
    expect(() => csrFromMasked(new Float32Array(6), 2, 3, new Uint8Array(5))).toThrow(/shape \[2, 3\] from 6 weights and 5 mask entries/);
  });
});
