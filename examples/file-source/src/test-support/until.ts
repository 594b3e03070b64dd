/** Polls `condition` every 20 ms for up to `ms`; resolves to whether it held (tests assert on it with a message). */
export async function until(condition: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return condition();
}
