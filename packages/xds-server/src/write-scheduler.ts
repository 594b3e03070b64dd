/**
 * Bounds how many streams write a response at once, first come first served.
 * With thousands of streams waiting for the same push, letting all of them
 * write together interleaves every stream's frames so that all finish at the
 * end; a bound lets the first ones finish early, and the median client gets
 * its config long before the last (fair, and no slower in total).
 */
export class WriteScheduler {
  readonly #max: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Resolves when a write slot is free; call the returned function to free it. */
  async acquire(): Promise<() => void> {
    if (this.#active >= this.#max) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    };
  }
}
