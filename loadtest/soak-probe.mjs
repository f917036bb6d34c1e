// Soak probe: on SIGUSR2, force a GC and write heap/handle figures to /tmp/pocketgate-soak-probe.json;
// on SIGWINCH, write a heap snapshot. Only in the gateway process itself.
import fs from 'node:fs';
import v8 from 'node:v8';
if (process.argv.some((a) => a.endsWith('gateway/main.ts'))) {
  process.on('SIGUSR2', () => {
    if (globalThis.gc) { globalThis.gc(); globalThis.gc(); }
    const m = process.memoryUsage();
    const res = {};
    for (const r of process.getActiveResourcesInfo()) res[r] = (res[r] ?? 0) + 1;
    fs.writeFileSync('/tmp/pocketgate-soak-probe.json', JSON.stringify({ t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, resources: res }));
  });
  process.on('SIGWINCH', () => {
    if (globalThis.gc) globalThis.gc();
    const f = v8.writeHeapSnapshot(`/tmp/pocketgate-soak-${Date.now()}.heapsnapshot`);
    fs.writeFileSync('/tmp/pocketgate-soak-snap.txt', f);
  });
}
