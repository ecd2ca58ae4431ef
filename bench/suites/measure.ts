/** Runs `op` repeatedly for about `ms` milliseconds after a warm-up; returns operations per second. */
export async function opsPerSecond(
  op: () => Promise<unknown> | unknown,
  ms = 2000,
  warmup = 200,
): Promise<number> {
  const until = (deadline: number) => async () => {
    let n = 0
    while (performance.now() < deadline) {
      await op()
      n++
    }
    return n
  }
  await until(performance.now() + warmup)()
  const start = performance.now()
  const n = await until(start + ms)()
  return (n * 1000) / (performance.now() - start)
}
