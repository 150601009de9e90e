import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { serverHelp } from '../support/server.js';
import { dockerignore, execForm, readDockerfile, splitOptions, type Instruction, type Stage } from './dockerfile.js';
import { root } from './paths.js';

/** The Dockerfile read as text: what it copies exists, and the final image is the one the deploy files expect. */
describe('Dockerfile', () => {
  let stages: Stage[];
  let final: Stage;
  let ignored: (file: string) => boolean;
  const all = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);
  const one = (keyword: string): Instruction => {
    const found = all(final, keyword);
    expect(found, `final stage ${keyword}`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    stages = await readDockerfile();
    final = stages.at(-1)!;
    ignored = dockerignore(await readFile(path.join(root, '.dockerignore'), 'utf8'));
  });

  it('builds every stage on node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.base, stage.name).toBe('node:20-bookworm-slim');
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const names = new Set(stages.map((s) => s.name));
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY')) {
        const { options, rest } = splitOptions(copy.args);
        const sources = rest.split(/\s+/).slice(0, -1);
        if (options.from) {
          expect(names.has(options.from), `line ${copy.line}: stage ${options.from}`).toBe(true);
          continue;
        }
        for (const source of sources) {
          expect(existsSync(path.join(root, source)), `line ${copy.line}: ${source} exists`).toBe(true);
          expect(ignored(source), `line ${copy.line}: ${source} is not in .dockerignore`).toBe(false);
        }
      }
    }
  });

  it('installs from the lock file: package-lock.json is copied before each npm ci', () => {
    const installs = stages.filter((s) => all(s, 'RUN').some((r) => /\bnpm ci\b/.test(r.args)));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const stage of installs) {
      const lockAt = stage.instructions.findIndex((i) => i.keyword === 'COPY' && i.args.includes('package-lock.json'));
      const ciAt = stage.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
      expect(lockAt, stage.name).toBeGreaterThanOrEqual(0);
      expect(lockAt, stage.name).toBeLessThan(ciAt);
    }
  });

  it('ships only dist and production node_modules in the final stage', () => {
    const copies = all(final, 'COPY').map((c) => splitOptions(c.args));
    const modules = copies.find((c) => c.rest.endsWith('node_modules'));
    const source = stages.find((s) => s.name === modules?.options.from);
    expect(all(source!, 'RUN').some((r) => /npm ci .*--omit=dev/.test(r.args))).toBe(true);
    expect(copies.some((c) => c.options.from && c.rest.endsWith('dist'))).toBe(true);
    expect(all(final, 'RUN'), 'no build steps in the runtime image').toEqual([]);
  });

  it('runs as a user that is not root', () => {
    expect(one('USER').args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('exposes the chat, WebSocket and metrics ports', () => {
    expect(one('EXPOSE').args.split(/\s+/).sort()).toEqual(['50445', '50446', '9464']);
  });

  it('checks health with node against /healthz, in exec form', () => {
    const { rest } = splitOptions(one('HEALTHCHECK').args);
    expect(rest).toMatch(/^CMD\s/);
    const command = execForm(rest.replace(/^CMD\s+/, ''));
    expect(command?.[0]).toBe('node');
    expect(command?.join(' ')).toContain('/healthz');
  });

  it('starts the package\'s chorus-server bin in exec form, with documented flags', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(execForm(one('ENTRYPOINT').args)).toEqual(['node', pkg.bin['chorus-server']]);
    const flags = execForm(one('CMD').args)!.filter((a) => a.startsWith('--'));
    expect(flags).toContain('--host');
    const help = await serverHelp();
    for (const flag of flags) expect(help, flag).toMatch(new RegExp(`(^|\\s)${flag}(?![\\w-])`, 'm'));
  });
});
