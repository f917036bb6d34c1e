// Node's flags for the gateway process, wherever it is started for real work: `npm start` and the
// benchmarks (loadtest/processes.ts), so that what is measured is what runs. Both are about the
// garbage collector: a purchase allocates about 120 KB, nearly all of it dead within milliseconds.
//
// --max-semi-space-size=64 (MiB; Node 20's default is 16): with the default young generation the
// scavenger ran four times as often and promoted more. Side by side (npm run profile -- --rounds 3
// --baseline-env NODE_OPTIONS=--max-semi-space-size=64, 2026-11-30, each of the 3 rounds the same
// way): gateway CPU per purchase 211 vs 236 µs (×0.89), throughput ×1.04. The price is up to
// 3 × 64 MiB more of resident memory at full load.
//
// --no-allocation-site-pretenuring: V8 may allocate the objects of a site it has seen survive
// straight into the old generation. Without this flag a gateway's scavenges often took 8.5–9.7 ms
// instead of 5–6, each promoting 4–5 MB, with two to four times as many mark-compacts; which
// sites V8 pretenured was not found (--trace-pretenuring printed nothing here). Side by side with the flag above in both (two runs of 3 rounds at
// the maximum rate, 15:11–15:15 UTC): throughput ×1.12 and ×1.11, gateway CPU ×0.85 and ×0.90,
// p99 ×0.85 and ×0.93; at 1,400 purchases/s gateway CPU ×0.92, scavenges 4.9–5.3 ms instead of 8.6.
export const gateway_node_flags = ['--max-semi-space-size=64', '--no-allocation-site-pretenuring'];
