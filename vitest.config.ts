import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'loadtest/test/**/*.test.mjs'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real processes (servers, redis-server, haproxy, prometheus) on a 2-core box.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
