/**
 * What this session has seen: the conversation `!history` shows (every message sent and
 * received, as rendered), and the last message id per target that a resume sends back.
 */

// `!history` with no target shows this session's conversation: the latest lines are enough.
const maxLines = 1000;
// Targets whose last id we keep: `*`, our inbox, our rooms. More than this means someone
// is playing games with the spelling of our nick.
const maxTargets = 1000;

export class Transcript {
  private readonly lines: string[] = [];
  private readonly lastIds = new Map<string, string>();

  remember(line: string): void {
    this.lines.push(line);
    if (this.lines.length > maxLines) this.lines.shift();
  }

  conversation(): readonly string[] {
    return this.lines;
  }

  /** Notes the id of a message to `to`; false when it is the very message seen last there. */
  see(to: string, id: string): boolean {
    // Targets are case-insensitive; the server folds whatever spelling it gets back.
    const key = to === '*' ? to : to.toLowerCase();
    if (this.lastIds.get(key) === id) return false;
    this.lastIds.delete(key);
    if (this.lastIds.size >= maxTargets) this.lastIds.delete(this.lastIds.keys().next().value!);
    this.lastIds.set(key, id);
    return true;
  }

  /** `resume.last` of a hello: target → the last id seen there. */
  last(): Record<string, string> {
    return Object.fromEntries(this.lastIds);
  }
}
