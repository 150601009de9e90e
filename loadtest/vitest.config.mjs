// The load generator's own unit tests: `npx vitest run --config loadtest/vitest.config.mjs`.
// (The project's vitest.config.ts covers test/**/*.test.ts only.)
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['test/**/*.test.mjs'],
  },
});
