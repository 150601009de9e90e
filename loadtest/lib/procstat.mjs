// What the servers under test cost, read from /proc (Linux): the CPU time and resident
// memory of a process and all its descendants (a gateway's cluster primary and its workers).

import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const clockTicksPerS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // the Linux default
  }
})();

/** `pid`, its children, their children…: one scan of /proc. */
export function processTree(pid) {
  const children = new Map(); // ppid -> [pid]
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(name));
    children.set(stat.ppid, list);
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** {cpuUs, rssKiB} summed over the trees of the given root pids (processes that vanished count 0). */
export function sampleTrees(rootPids) {
  let ticks = 0;
  let rssKiB = 0;
  for (const root of rootPids) {
    for (const pid of processTree(root)) {
      const stat = readStat(pid);
      if (!stat) continue;
      ticks += stat.utime + stat.stime;
      rssKiB += readRssKiB(pid);
    }
  }
  return { cpuUs: (ticks / clockTicksPerS) * 1e6, rssKiB };
}

/** Fields of /proc/<pid>/stat we need; the command name may hold spaces, so split after ')'. */
function readStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // after the name: state(0) ppid(1) … utime(11) stime(12)
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
}

function readRssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
