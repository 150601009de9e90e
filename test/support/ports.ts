// Free loopback ports for processes that cannot listen on port 0 and report back (redis-server,
// haproxy, prometheus), and a probe for whether something listens on one.
import net from 'node:net';

const host = '127.0.0.1';

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * `count` distinct free loopback ports. All are held open until every one is chosen, so
 * the kernel cannot hand the same port out twice; another process could still take one
 * before the caller binds it, which is as good as port-0 allocation gets for a child.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, host, () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** True once a TCP connect to host:port succeeds, false if it is refused. */
export function canConnect(port: number, toHost = host): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: toHost, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
