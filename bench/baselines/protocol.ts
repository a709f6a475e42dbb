/**
 * How the bench talks to a baseline process: `{"ready":true}` once set up, then one JSON request
 * per stdin line answered by one `{"reply": …}` stdout line. Kept apart from bench/lib.ts so a
 * baseline loads nothing but what it measures (its RSS is a figure).
 */
import readline from 'node:readline';

export async function serveRequests(handle: (msg: any) => Promise<Record<string, unknown>>): Promise<void> {
  // A clean exit on SIGTERM, so that `--cpu-prof` writes its profile.
  if (process.listenerCount('SIGTERM') === 0) process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('{"ready":true}\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    let reply: Record<string, unknown>;
    try {
      reply = await handle(JSON.parse(line));
    } catch (err) {
      reply = { error: err instanceof Error ? err.message : String(err) };
    }
    process.stdout.write(`${JSON.stringify({ reply })}\n`);
  }
}
