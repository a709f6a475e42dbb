/**
 * The apps as real child processes (`node --import tsx apps/<app>/src/main.ts`), as
 * `pnpm start` and the Docker images run them: for signals, exit codes and the operator
 * ports, which an in-process stack cannot show. Their JSON log lines are collected, and
 * tests wait on those lines (events), not on sleeps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type LogLine = Record<string, any>;

export interface AppProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout, one parsed JSON object per line (a non-JSON line becomes `{ msg: line, raw: true }`). */
  readonly lines: LogLine[];
  readonly stderr: string[];
  /** Resolves with the exit code and signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (already seen or still to come) that matches. */
  waitForLine(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, and SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<AppProcess>();

/** Starts one app with exactly `env` on top of PATH/HOME (no NODE_OPTIONS from Jest). */
export function startApp(app: 'api' | 'worker' | 'dashboard', env: Record<string, string>): AppProcess {
  const { NODE_OPTIONS: _jestVm, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, `apps/${app}/src/main.ts`)], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const listeners = new Set<(l: LogLine) => void>();
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, raw: true };
    }
    lines.push(line);
    for (const l of listeners) l(line);
  });
  readline.createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const proc: AppProcess = {
    name: app,
    child,
    lines,
    stderr,
    exited,
    waitForLine(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(onLine);
        };
        const onLine = (l: LogLine) => {
          if (!match(l)) return;
          done();
          resolve(l);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${app}: no matching log line within ${timeoutMs} ms\nstdout:\n${tail(lines)}\nstderr:\n${stderr.slice(-20).join('\n')}`));
        }, timeoutMs);
        listeners.add(onLine);
        void exited.then(({ code, signal }) => {
          if (!listeners.has(onLine)) return;
          done();
          reject(new Error(`${app} exited (${signal ?? code}) before the awaited log line\nstdout:\n${tail(lines)}\nstderr:\n${stderr.slice(-20).join('\n')}`));
        });
      });
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** For afterAll: stops every app this test file started and that still runs. */
export async function stopAllApps(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(5_000)));
}

function tail(lines: LogLine[], n = 20): string {
  return lines
    .slice(-n)
    .map((l) => JSON.stringify(l))
    .join('\n');
}

/** A port nothing listens on right now (bound then released by the OS). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The worker's "ready" line; its `metricsPort` is the operator port actually bound. */
export const workerStarted = (l: LogLine) => l.msg === 'worker started';
export const apiListening = (l: LogLine) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at');
