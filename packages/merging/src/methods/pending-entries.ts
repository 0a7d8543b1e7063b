/**
 * Entries whose TIES trim could not be decided in the histogram pass, because a model's magnitude
 * lies in its threshold bucket. Each keeps its flattened index and every model's task vector
 * value, in growable typed arrays, in the order met (which is flattened order).
 */
export class PendingEntries {
  private indices = new Float64Array(1024);
  private values: Float32Array;
  length = 0;

  constructor(private readonly models: number) {
    this.values = new Float32Array(1024 * models);
  }

  /** Stores entry `i` of every row, at flattened index `index`. */
  push(index: number, rows: readonly Float32Array[], i: number): void {
    if (this.length === this.indices.length) this.grow();
    this.indices[this.length] = index;
    const start = this.length * this.models;
    for (let model = 0; model < this.models; model++) this.values[start + model] = rows[model][i];
    this.length++;
  }

  /** Visits the stored entries in the order they were pushed, with one value per model. */
  forEach(visit: (values: Float32Array, index: number) => void): void {
    for (let entry = 0; entry < this.length; entry++) {
      const start = entry * this.models;
      visit(this.values.subarray(start, start + this.models), this.indices[entry]);
    }
  }

  private grow(): void {
    const indices = new Float64Array(this.indices.length * 2);
    indices.set(this.indices);
    this.indices = indices;
    const values = new Float32Array(this.values.length * 2);
    values.set(this.values);
    this.values = values;
  }
}
