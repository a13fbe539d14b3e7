/** Times the slow parts of a long test, so its output says where the minutes went. */
export function stopwatch(): { timings: string[]; timed<T>(label: string, work: () => Promise<T>): Promise<T> } {
  const timings: string[] = [];
  return {
    timings,
    async timed<T>(label: string, work: () => Promise<T>): Promise<T> {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    },
  };
}
