// Where the project and its shipped deploy files are, for the tests that read them.
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '../..');
export const deployDir = path.join(root, 'deploy');
