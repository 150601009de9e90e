import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../support/server.js';
import { waitUntil } from '../support/wait.js';
import { dockerignore, execForm, readDockerfile, splitOptions, type Stage } from './dockerfile.js';
import { root } from './paths.js';

const run = promisify(execFile);

/**
 * There is no Docker engine here, so this replays the Dockerfile's own steps in temporary
 * directories: each stage's WORKDIR becomes a directory, COPY copies (from the context
 * through .dockerignore, or from another stage), RUN runs in a shell there. Then it starts
 * the final stage's ENTRYPOINT and runs its HEALTHCHECK. A step the image would miss (a
 * file not copied, a runtime import of a devDependency) fails here too.
 */
async function replay(stages: Stage[], into: string): Promise<{ dir: string; stage: Stage; env: Record<string, string> }> {
  const ignored = dockerignore(await readFile(path.join(root, '.dockerignore'), 'utf8'));
  const dirs = new Map<string, { dir: string; workdir: string }>();
  let env: Record<string, string> = {};
  // Maps a container path of `stage` to the directory that stands in for it.
  const local = (stage: string, containerPath: string) => {
    const { dir, workdir } = dirs.get(stage)!;
    const absolute = path.posix.resolve(workdir, containerPath);
    const rel = path.posix.relative(workdir, absolute);
    if (rel.startsWith('..')) throw new Error(`${stage}: ${containerPath} is outside WORKDIR ${workdir}; the replay cannot follow it`);
    return path.join(dir, rel);
  };

  for (const stage of stages) {
    const dir = path.join(into, stage.name);
    await mkdir(dir);
    dirs.set(stage.name, { dir, workdir: '/' });
    env = {};
    for (const { keyword, args, line } of stage.instructions) {
      const where = `Dockerfile line ${line}`;
      if (keyword === 'WORKDIR') {
        dirs.set(stage.name, { dir, workdir: args });
      } else if (keyword === 'ENV') {
        for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
      } else if (keyword === 'COPY') {
        const { options, rest } = splitOptions(args);
        const parts = rest.split(/\s+/);
        const dest = local(stage.name, parts.pop()!);
        for (const source of parts) {
          const from = options.from ? local(options.from, source) : path.join(root, source);
          const target = parts.length > 1 || dest.endsWith('/') || rest.endsWith('/') ? path.join(dest, path.basename(source)) : dest;
          const filter = options.from ? undefined : (file: string) => !ignored(path.relative(root, file) || '.');
          await cp(from, target, { recursive: true, filter });
        }
      } else if (keyword === 'RUN') {
        // NODE_ENV from a previous ENV matters to npm; the rest of ours is inherited.
        await run('sh', ['-c', args], { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }).catch((err: Error & { stderr?: string }) => {
          throw new Error(`${where}: RUN ${args} failed:\n${err.stderr ?? err.message}`);
        });
      } else if (!['USER', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'LABEL', 'STOPSIGNAL'].includes(keyword)) {
        throw new Error(`${where}: the replay does not know ${keyword}; teach it, or keep the Dockerfile simple`);
      }
    }
  }
  const stage = stages.at(-1)!;
  return { dir: dirs.get(stage.name)!.dir, stage, env };
}

describe('the Dockerfile\'s steps, run outside Docker', () => {
  let tmp: string;
  let image: Awaited<ReturnType<typeof replay>>;
  let server: ServerHandle | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'chorus-image-'));
    image = await replay(await readDockerfile(), tmp);
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('leaves dist but no compiler and no sources in the final stage', () => {
    expect(existsSync(path.join(image.dir, 'dist/server/main.js'))).toBe(true);
    expect(existsSync(path.join(image.dir, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(path.join(image.dir, 'src'))).toBe(false);
  });

  it('starts the ENTRYPOINT, which answers /healthz, and the HEALTHCHECK passes', async () => {
    const instruction = (k: string) => image.stage.instructions.find((i) => i.keyword === k)!;
    const [node, main] = execForm(instruction('ENTRYPOINT').args) as [string, string];
    expect(node).toBe('node');
    server = await startServer([], { entry: path.join(image.dir, main), cwd: image.dir, env: image.env });

    const healthz = `http://127.0.0.1:${server.metricsPort}/healthz`;
    await waitUntil(async () => (await fetch(healthz).catch(() => undefined))?.status === 200, '/healthz to answer 200', 10_000, 100);

    const check = execForm(splitOptions(instruction('HEALTHCHECK').args).rest.replace(/^CMD\s+/, ''))!;
    const env = { ...process.env, CHORUS_METRICS_PORT: String(server.metricsPort) };
    const healthcheck = () => run(process.execPath, check.slice(1), { cwd: image.dir, env });
    await expect(healthcheck()).resolves.toBeDefined();

    // And the check can fail: once the server is gone it exits non-zero.
    await server.stop();
    server = undefined;
    await expect(healthcheck()).rejects.toMatchObject({ code: 1 });
  }, 60_000);
});
