/**
 * Counts the n-grams of orders 1 to `maxOrder`, keyed by their tokens joined with a space
 * (tokens never contain whitespace, so keys cannot collide).
 */
export function countNgrams(tokens: string[], maxOrder: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let order = 1; order <= maxOrder; order += 1) {
    for (let i = 0; i + order <= tokens.length; i += 1) {
      const key = tokens.slice(i, i + order).join(' ');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** Returns the order of an n-gram key made by {@link countNgrams}. */
export function orderOf(key: string): number {
  let order = 1;
  for (let i = 0; i < key.length; i += 1) if (key.charCodeAt(i) === 32) order += 1;
  return order;
}
