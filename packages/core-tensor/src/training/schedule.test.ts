import { InvalidInputError } from '../errors';
import { constantSchedule, constantScheduleWithWarmup, createSchedule, linearScheduleWithWarmup } from './schedule';

describe('learning-rate schedules', () => {
  it('constant is 1 at every step', () => {
    const schedule = constantSchedule();

    expect([0, 1, 1000].map(schedule)).toEqual([1, 1, 1]);
  });

  it.each([
    // [step, factor] for 4 warm-up steps and 12 training steps
    [0, 0],
    [1, 0.25],
    [2, 0.5],
    [3, 0.75],
    [4, 1],
    [6, 0.75],
    [8, 0.5],
    [11, 0.125],
    [12, 0],
    [20, 0],
  ])('linear with warm-up at step %i is %f', (step, factor) => {
    expect(linearScheduleWithWarmup(4, 12)(step)).toBeCloseTo(factor, 12);
  });

  it('linear without warm-up starts at 1', () => {
    const schedule = linearScheduleWithWarmup(0, 10);

    expect([0, 5, 10].map(schedule)).toEqual([1, 0.5, 0]);
  });

  it.each([
    [0, 0],
    [1, 0.2],
    [4, 0.8],
    [5, 1],
    [500, 1],
  ])('constant with warm-up at step %i is %f', (step, factor) => {
    expect(constantScheduleWithWarmup(5)(step)).toBeCloseTo(factor, 12);
  });

  it('createSchedule builds each type by its Hugging Face name', () => {
    expect(createSchedule('constant')(3)).toBe(1);
    expect(createSchedule('constant_with_warmup', { warmupSteps: 10 })(3)).toBeCloseTo(0.3, 12);
    expect(createSchedule('linear', { warmupSteps: 2, trainingSteps: 6 })(4)).toBeCloseTo(0.5, 12);
  });

  it('rejects unknown names and invalid step counts', () => {
    expect(() => createSchedule('cosine_restarts')).toThrow(/Unknown learning-rate schedule "cosine_restarts"/);
    expect(() => createSchedule('linear')).toThrow(/number of training steps/);
    expect(() => linearScheduleWithWarmup(-1, 10)).toThrow(InvalidInputError);
    expect(() => constantScheduleWithWarmup(2.5)).toThrow(InvalidInputError);
  });
});
