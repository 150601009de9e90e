import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { root } from './paths.js';

/** Just enough of the Dockerfile and .dockerignore formats to check and replay the shipped ones. */

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  base: string;
  instructions: Instruction[];
}

/** Instructions grouped by stage; comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = pending + line;
    pending = '';
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(whole)!;
    const instruction = { keyword: keyword!.toUpperCase(), args: args!, line: startLine };
    if (instruction.keyword === 'FROM') {
      const [base, as, name] = args!.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' ? name! : `stage${stages.length}`, base: base!, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`line ${startLine}: ${keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  });
  return stages;
}

export async function readDockerfile(): Promise<Stage[]> {
  return parseDockerfile(await readFile(path.join(root, 'Dockerfile'), 'utf8'));
}

/** The JSON array of an exec-form ENTRYPOINT, CMD or HEALTHCHECK CMD; undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  const value: unknown = JSON.parse(args);
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

/** `--flag=value` options, then the rest: `COPY --from=build /app/dist ./dist`, `HEALTHCHECK --interval=10s CMD [...]`. */
export function splitOptions(args: string): { options: Record<string, string>; rest: string } {
  const options: Record<string, string> = {};
  let rest = args.trim();
  for (let m = /^--([\w-]+)=(\S+)\s+/.exec(rest); m; m = /^--([\w-]+)=(\S+)\s+/.exec(rest)) {
    options[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { options, rest };
}

/**
 * A .dockerignore matcher: true when the context-relative `file` is excluded. Patterns are
 * matched against the path and each of its parent directories; the last matching pattern
 * wins and `!` re-includes. Supports `*`, `**` and `?`, which is all the shipped file uses.
 */
export function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const pattern = path.posix.normalize((include ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const source = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) => (part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('');
      return { include, regex: new RegExp(`^${source}$`) };
    });
  return (file) => {
    const parts = path.posix.normalize(file).split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.include;
    }
    return excluded;
  };
}
