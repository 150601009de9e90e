import { createMemoryEngine } from '../../src/engine/memory/index.js';
import { engineContract } from './contract.js';

engineContract('memory', () => ({
  make: async ({ historyLimit }) => createMemoryEngine({ historyLimit }),
}));
