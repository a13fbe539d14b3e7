import { setImmediate as nextTurn } from 'node:timers/promises';

/** How long synchronous file work may hold the event loop before timers, handlers and output get a turn. */
const SLICE_MS = 20;

/**
 * Runs `work` on every item in order, giving the event loop a turn every SLICE_MS, so a
 * long run of synchronous file reads does not hold up what is queued behind it: Node writes
 * to a Windows console (and to a pipe elsewhere) asynchronously, and a message printed
 * before a backup of thousands of files would otherwise appear only after it. Items are taken from the
 * iterable as they come, so a long listing is never held whole. The first failure stops
 * the loop and is thrown.
 */
export async function eachInSlices<T>(items: Iterable<T> | AsyncIterable<T>, work: (item: T) => void): Promise<void> {
  let sliceStart = performance.now();
  const slice = async (item: T) => {
    work(item);
    if (performance.now() - sliceStart >= SLICE_MS) {
      await nextTurn();
      sliceStart = performance.now();
    }
  };
  if (Symbol.asyncIterator in items) for await (const item of items) await slice(item);
  else for (const item of items) await slice(item);
}
