import { connect, createServer, type Server, type Socket } from "node:net";

/** A loopback TCP proxy a test can cut, to partition one client from etcd while others still reach it. */
export interface TcpProxy {
  /** `127.0.0.1:<port>` to connect to instead of the target. */
  readonly hostPort: string;
  /** Destroys every connection and refuses new ones until {@link heal}. */
  cut(): void;
  /** Accepts connections again. */
  heal(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [host = "127.0.0.1", port = "0"] = target.split(":");
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), host);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const proxyPort = typeof address === "object" && address ? address.port : 0;
  return {
    hostPort: `127.0.0.1:${proxyPort}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    heal() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
