/**
 * A token bucket: `rate` tokens a second, holding at most `burst`. Used to
 * limit how fast new streams may open, so a reconnect storm is spread out
 * instead of landing at once.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last = performance.now();

  constructor(rate: number, burst = Math.max(1, Math.ceil(rate))) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes a token if one is there. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
