import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";

/**
 * A client's request stream that a test writes to step by step: `push` a
 * request (a message or its init shape), `end` to half-close. Pass it to a
 * connect client's streaming method.
 */
export function requestQueue<S extends DescMessage>(schema: S) {
  const queue: MessageShape<S>[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  return {
    push(init: MessageInitShape<S>) {
      queue.push(create(schema, init));
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<MessageShape<S>> {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as MessageShape<S>;
        if (done) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
