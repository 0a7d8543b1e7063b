import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import type { RawTensor, StateDict } from '@modularevo/core-tensor';
import type { ArchitectureTask, BatchOptions, TaskModel } from '@modularevo/masking';

import { PAPER_DEFAULTS } from '../config/defaults';
import type { EvolveSettings } from '../config/settings';
import { compose } from './compose';
import type { RunLog, RecordValues } from './run-log';
import type { PreparedTask } from './task-data';

// A base model of one parameter `w` with two entries. Task `a` scores best when w[0] = 0.5 and
// task `b` when w[1] = 1, so exactly one point of the grid {0.5, 1} x {0.5, 1} scores best.
const TARGETS: Record<string, { entry: number; value: number }> = { a: { entry: 0, value: 0.5 }, b: { entry: 1, value: 1 } };

function stateOf(values: number[]): StateDict {
  const tensor: RawTensor = { dtype: 'F32', shape: [values.length], data: Float32Array.from(values) };
  return new Map([['w', tensor]]);
}

/** Creates a task model whose score is 1 minus the distance of its assigned `w` from the task's target. */
function fakeModel(task: string, fineTuned: number[]): TaskModel {
  let state = stateOf(fineTuned);
  const base = { stateDict: () => state, assign: (next: StateDict) => (state = next) };
  return {
    task,
    base,
    evaluate: async () => {
      const { entry, value } = TARGETS[task];
      return { accuracy: 1 - Math.abs((state.get('w')!.data as Float32Array)[entry] - value) };
    },
    save: async (dir: string) => fs.mkdirSync(dir, { recursive: true }),
    dispose: () => undefined,
  } as unknown as TaskModel;
}

/** Creates a task that records the options of every `batches` call. */
function fakeTask(name: string, calls: BatchOptions[]): PreparedTask {
  const task = {
    info: { name, description: name, primaryMetric: 'accuracy' },
    batches: (_model: TaskModel, examples: unknown[], options: BatchOptions) => {
      calls.push(options);
      return [examples];
    },
  } as unknown as ArchitectureTask;
  return {
    settings: { name, domain: 'math', source: name },
    task,
    data: { task: name, labels: [], splits: { validation: ['v'], test: ['t'] } },
    shards: [],
  } as unknown as PreparedTask;
}

describe('compose', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function composeTwoTasks(calls: BatchOptions[], records: RecordValues[]) {
    const settings = { ...PAPER_DEFAULTS, merge: { ...PAPER_DEFAULTS.merge, coefficients: [0.5, 1] } } as unknown as EvolveSettings;
    return compose({
      stage: 0,
      strategy: 'task_arithmetic',
      tasks: [fakeTask('a', calls), fakeTask('b', calls)],
      current: stateOf([0, 0]),
      // task vectors [1, 0] and [0, 1]: the merge is w = [coefficient of a, coefficient of b]
      models: [fakeModel('a', [1, 0]), fakeModel('b', [0, 1])],
      taskHeadPattern: '^score\\.',
      settings,
      mergeSeed: 1,
      outDir: dir,
      runLog: { write: (record: RecordValues) => records.push(record) } as unknown as RunLog,
    });
  }

  it('picks the best grid point', async () => {
    const records: RecordValues[] = [];
    const result = await composeTwoTasks([], records);

    expect(result.coefficients).toEqual([0.5, 1]);
    expect(result.testScores).toEqual([1, 1]);
    expect(records.filter((record) => record.kind === 'grid')).toHaveLength(4);
    expect(records.filter((record) => record.kind === 'test').map((record) => (record as { task: string }).task)).toEqual(['a', 'b']);
  });

  it('names the split of each evaluation', async () => {
    const calls: BatchOptions[] = [];
    await composeTwoTasks(calls, []);

    // the split names label the truncation warnings
    expect(calls.map((options) => options.split)).toEqual(['validation', 'validation', 'test', 'test']);
  });
});
