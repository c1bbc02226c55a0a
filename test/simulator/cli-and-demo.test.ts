/** The two npm entry points: `npm run sim` (CLI) and `npm run demo:sim` (quickstart demo). */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSimulatorOptions, simulatorOptionsFrom, type SimulatorCliOptions } from '../../tools/ee-simulator/cli.ts';
import { resolveOptions } from '../../tools/ee-simulator/options.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(script: string, args: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(child: ChildProcess): { out: () => string } {
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  return { out: () => text };
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => child.once('exit', (code) => resolve(code)));

describe('entry points', () => {
  it('cli: prints the URL, serves, and stops on Ctrl-C', async () => {
    const child = run('tools/ee-simulator/cli.ts', ['--port', '0', '--scale', '60', '--no-auth']);
    const output = collect(child);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${output.out()}`)), 15_000);
      child.stdout?.on('data', () => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output.out());
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
    });
    expect(output.out()).toContain('clock x60, auth off');
    const res = await fetch(`${url}/v1/projects/p/operations`);
    expect(res.status).toBe(200);
    const done = exited(child);
    child.kill('SIGINT');
    expect(await done).toBe(0);
  });

  it('cli: rejects bad options', async () => {
    const child = run('tools/ee-simulator/cli.ts', ['--port', 'abc']);
    const output = collect(child);
    expect(await exited(child)).not.toBe(0);
    expect(output.out()).toContain("option '--port <n>' argument 'abc' is invalid");
    const status = run('tools/ee-simulator/cli.ts', ['--queue-full-status', '500']);
    const statusOutput = collect(status);
    expect(await exited(status)).not.toBe(0);
    expect(statusOutput.out()).toContain('must be one of 429, 400, 403, 503');
  });

  it('cli options: the simulator defaults unless given; given, they reach startSimulator()', () => {
    const parse = (args: string[]) => {
      const cmd = addSimulatorOptions(new Command('t').exitOverride()).parse(args, { from: 'user' });
      return resolveOptions(simulatorOptionsFrom(cmd.opts<SimulatorCliOptions>()));
    };
    const defaults = resolveOptions();
    const d = parse([]);
    expect(d).toMatchObject({ port: 8085, clock: { mode: 'scaled', scale: 1 }, auth: 'required', allowedProjects: undefined });
    for (const k of ['host', 'maxConcurrentPerProject', 'queueCap', 'rateLimitPerSecond', 'taskDurationMs', 'duplicateRequestId', 'queueFullStatus', 'cancelTerminal'] as const) expect(d[k], k).toEqual(defaults[k]);
    expect(
      parse(['--manual', '--no-auth', '--allowed-projects', 'a, b', '--queue-cap', '0', '--queue-full-status', '503', '--duplicate-request-id', 'return-existing', '--cancel-terminal', 'ignore']),
    ).toMatchObject({ clock: { mode: 'manual' }, auth: 'off', allowedProjects: ['a', 'b'], queueCap: 0, queueFullStatus: 503, duplicateRequestId: 'return-existing', cancelTerminal: 'ignore' });
  });

  it('demo: follows one export to SUCCEEDED and exits 0', async () => {
    const child = run('tools/ee-simulator/demo.ts');
    const output = collect(child);
    expect(await exited(child)).toBe(0);
    const text = output.out();
    expect(text).toMatch(/POST image:export -> projects\/demo-project\/operations\/[A-Z0-9]{24}/);
    const states = [...text.matchAll(/^\s+\+\d\d:\d\d:\d\d\s+(\w+)/gm)].map((m) => m[1]);
    expect(states[0]).toBe('PENDING');
    expect(states).toContain('RUNNING');
    expect(states.at(-1)).toBe('SUCCEEDED');
    expect(text).toContain('https://console.developers.google.com/storage/browser/b/exports/');
  });
});
