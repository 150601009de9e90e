// What one login to a registered nick costs here: `npm run build && node loadtest/login-cost.mjs`.
const { hashPassword, verifyPassword } = await import('../dist/gateway/password.js');
const h = await hashPassword('correct horse battery staple');
const t = [];
for (let i = 0; i < 10; i++) { const s = performance.now(); await verifyPassword('correct horse battery staple', h); t.push(performance.now() - s); }
t.sort((a, b) => a - b);
console.log(`one login: median ${t[5].toFixed(0)} ms, min ${t[0].toFixed(0)}, max ${t[9].toFixed(0)} (10 runs)`);
const s = performance.now();
await Promise.all(Array.from({ length: 8 }, () => verifyPassword('x', h)));
console.log(`8 at once (libuv pool of 4): ${(performance.now() - s).toFixed(0)} ms wall; rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
