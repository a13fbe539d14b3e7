/**
 * Runs `work` on every item with at most `limit` at once, in order of the items; the first
 * failure stops new work, waits for what is running, and is thrown. `worker` (0 to
 * limit - 1) lets each worker reuse its own buffers.
 */
export async function forEachLimited<T>(items: Iterable<T> | AsyncIterable<T>, limit: number, work: (item: T, worker: number) => Promise<void>): Promise<void> {
  // Workers share one iterator (an async generator queues their next() calls), so a long
  // listing is consumed as it is produced and never held whole.
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  const worker = async (index: number): Promise<void> => {
    while (failure === null) {
      let step: IteratorResult<T>;
      try {
        step = await iterator.next();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (step.done) return;
      try {
        await work(step.value, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, (_, index) => worker(index)));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
