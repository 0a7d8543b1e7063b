/**
 * Writes small BigCloneBench data in the CodeXGLUE layout (`data.jsonl` with `func` and `idx`,
 * pair files of `idx1<TAB>idx2<TAB>label` lines) for tests: Java functions of a few
 * functionalities, each written several times with other identifiers and constants. Two
 * functions are clones when they implement the same functionality, as in BigCloneBench.
 */
import * as fs from 'fs';
import * as path from 'path';

import { Rng } from '@modularevo/core-tensor';

// Short enough that the tiny fixture model's 38 positions hold most of each function.
const FUNCTIONALITIES = [
  'int $A(int[] $B) { int $C = 0; for (int x : $B) $C += x; return $C; }',
  'String $A(String $B) { return new StringBuilder($B).reverse().toString(); }',
  'long $A(int $B) { long $C = 1; while ($B > 1) $C *= $B--; return $C; }',
  'boolean $A(String $B) { try { Integer.parseInt($B); return true; } catch (Exception $C) { return false; } }',
  'void $A(File $B) throws IOException { new FileReader($B).close(); }',
  'int $A(List<Integer> $B) { return Collections.max($B); }',
];

const NAMES = ['sum', 'total', 'value', 'data', 'items', 'result', 'count', 'input'];

/** Idx of each written function, with its functionality. */
export interface WrittenFunction {
  idx: string;
  functionality: number;
}

/** Writes `variants` versions of every functionality and returns them. */
export function writeFunctions(dir: string, variants: number, rng: Rng, functionalities = FUNCTIONALITIES.length): WrittenFunction[] {
  const functions: WrittenFunction[] = [];
  const lines: string[] = [];
  FUNCTIONALITIES.slice(0, functionalities).forEach((template, functionality) => {
    for (let v = 0; v < variants; v++) {
      const pick = () => NAMES[rng.int(NAMES.length)];
      const func = template.replace(/\$A/g, pick()).replace(/\$B/g, pick()).replace(/\$C/g, pick());
      const idx = String(1000 + functions.length);
      functions.push({ idx, functionality });
      lines.push(JSON.stringify({ func, idx }));
    }
  });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data.jsonl'), `${lines.join('\n')}\n`);
  return functions;
}

/** Writes `count` random pairs among `functions` to `file`, about `cloneShare` of them clones; returns the labels. */
export function writePairs(file: string, functions: WrittenFunction[], count: number, cloneShare: number, rng: Rng): number[] {
  const labels: number[] = [];
  const lines: string[] = [];
  while (lines.length < count) {
    const first = functions[rng.int(functions.length)];
    const wantClone = rng.uniform() < cloneShare;
    const candidates = functions.filter((f) => f.idx !== first.idx && (f.functionality === first.functionality) === wantClone);
    const second = candidates[rng.int(candidates.length)];
    const label = wantClone ? 1 : 0;
    labels.push(label);
    lines.push(`${first.idx}\t${second.idx}\t${label}`);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return labels;
}

/**
 * Writes a BigCloneBench folder: functions of the train split and of the held-out splits are
 * different variants, so validation and test pairs are pairs the model never saw.
 */
export function writeBigCloneBench(dir: string, seed: number, sizes = { train: 240, validation: 60, test: 90 }, functionalities = FUNCTIONALITIES.length): void {
  const rng = Rng.create(seed);
  const functions = writeFunctions(dir, 10, rng, functionalities);
  const trainFunctions = functions.filter((_, i) => i % 10 < 6);
  const heldOut = functions.filter((_, i) => i % 10 >= 6);
  writePairs(path.join(dir, 'train.txt'), trainFunctions, sizes.train, 0.4, rng);
  writePairs(path.join(dir, 'valid.txt'), heldOut, sizes.validation, 0.4, rng);
  writePairs(path.join(dir, 'test.txt'), heldOut, sizes.test, 0.4, rng);
}
