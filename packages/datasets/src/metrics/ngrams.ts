/**
 * Counts the n-grams of orders 1 to `maxOrder`. Entry `k` of the result holds the (k + 1)-grams,
 * keyed by the JSON text of their tokens, so no two n-grams share a key whatever the tokens
 * contain.
 */
export function countNgrams(tokens: string[], maxOrder: number): Map<string, number>[] {
  const counts = Array.from({ length: maxOrder }, () => new Map<string, number>());
  for (let order = 1; order <= maxOrder; order += 1) {
    const ofOrder = counts[order - 1];
    for (let i = 0; i + order <= tokens.length; i += 1) {
      const key = JSON.stringify(tokens.slice(i, i + order));
      ofOrder.set(key, (ofOrder.get(key) ?? 0) + 1);
    }
  }
  return counts;
}
