// Node's flags for the gateway process, wherever it is started for real work: `npm start` and the
// benchmarks (loadtest/processes.ts), so that what is measured is what runs.
//
// --max-semi-space-size=64 (MiB; Node 20's default is 16): a purchase allocates a few KB of
// short-lived objects (the body, its parse, templates, Redis replies). With the default young
// generation, scavenges ran often enough to promote request objects that were about to die, and the
// old generation's collections then cost more. Side by side (npm run profile -- --rounds 3
// --baseline-env NODE_OPTIONS=--max-semi-space-size=64, 2026-11-30, 3 of 3 rounds the same way):
// gateway CPU per purchase 211 vs 236 µs (×0.89), throughput ×1.04. The price is up to 3 × 64 MiB
// more of resident memory at full load.
export const gateway_node_flags = ['--max-semi-space-size=64'];
