/**
 * Child process for http-edge.test.ts: opens `count` connections to the API that announce a
 * 60,000-byte body and then send one byte per `everyMs` (half of them with a valid token), and
 * reports when the server closed each one. Run apart from the server so that the clients' own work
 * does not count as the server's latency.
 *
 * argv: port count everyMs token giveUpMs; prints `{ "ready": true }` once loaded, one JSON line per connection
 * (`{ "heldMs", "status" }`), then `{ "done": true }`; a connection still open after
 * `giveUpMs` is reported with heldMs null.
 */
import net from 'node:net';

const [port, count, everyMs, token, giveUpMs] = process.argv.slice(2);
const results: Promise<void>[] = [];

function one(i: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    const openedAt = Date.now();
    let first = '';
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => socket.destroy(new Error('give up')), Number(giveUpMs));
    socket.on('data', (c: Buffer) => {
      if (!first) first = c.toString('latin1').split('\r\n', 1)[0]!;
    });
    socket.on('error', () => {
      /* a reset is a close too; 'give up' is reported below */
    });
    socket.once('close', () => {
      clearInterval(timer);
      const gaveUp = Date.now() - openedAt >= Number(giveUpMs);
      clearTimeout(giveUp);
      process.stdout.write(`${JSON.stringify({ heldMs: gaveUp ? null : Date.now() - openedAt, status: first })}\n`);
      resolve();
    });
    socket.once('connect', () => {
      const auth = i % 2 ? `Authorization: Bearer ${token}\r\n` : '';
      socket.write(`POST /v1/rehost HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{`);
      timer = setInterval(() => socket.writable && socket.write(' '), Number(everyMs));
    });
  });
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
// 500 new connections a second, 20 every 40 ms (2,000 in 4 s).
for (let i = 0; i < Number(count); i += 20) {
  for (let j = i; j < Math.min(Number(count), i + 20); j++) results.push(one(j));
  await new Promise((r) => setTimeout(r, 40));
}
await Promise.all(results);
process.stdout.write(`${JSON.stringify({ done: true })}\n`);
