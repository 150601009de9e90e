#!/usr/bin/env node
// The long fuzz run: `npm run fuzz -- --runs 5000 [--seed N]`. CI runs the same tests with a
// fixed seed and a few runs per dialect; this runs many, with a new seed unless one is given
// (a failure prints its seed and path, so that it can be replayed).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const value = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = value('--runs') ?? '1000';
const seed = value('--seed') ?? String(Date.now() % 2 ** 31);
if (!/^\d+$/.test(runs) || !/^-?\d+$/.test(seed)) {
  process.stderr.write('usage: npm run fuzz -- [--runs N] [--seed N]\n');
  process.exit(2);
}
process.stdout.write(`fuzzing every dialect: ${runs} runs each, seed ${seed}\n`);
const root = fileURLToPath(new URL('../..', import.meta.url));
const result = spawnSync('npx', ['vitest', 'run', 'test/fuzz/gateway.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed },
});
process.exit(result.status ?? 1);
