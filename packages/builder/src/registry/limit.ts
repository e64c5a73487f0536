/**
 * Runs tasks at most `n` at a time. After the first failure no new task starts, and the first
 * error is thrown once the running ones have settled (so no transfer outlives the call).
 */
export async function runLimited<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failure) throw failure.error;
}
