import { describe, expect, it } from 'vitest';
import { areaOf, summariseProfile, type CpuProfile } from './cpu-profile.ts';

describe('areaOf', () => {
  it('names packages, our folders, node internals and V8 frames', () => {
    expect(areaOf('file:///w/node_modules/@redis/client/dist/lib/client/index.js', 'x')).toBe('@redis/client');
    expect(areaOf('file:///w/node_modules/hono/dist/hono.js', 'x')).toBe('hono');
    expect(areaOf('file:///w/processor/purchase.ts', 'x')).toBe('processor/purchase.ts');
    expect(areaOf('node:internal/streams/writable', 'x')).toBe('node:internal/streams');
    expect(areaOf('', '(garbage collector)')).toBe('(garbage collector)');
    expect(areaOf('', 'writev')).toBe('(native)');
  });
});

describe('summariseProfile', () => {
  // main → purchase → hmac; main → (idle): times are the deltas before each sample.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 5] },
      { id: 2, callFrame: { functionName: 'handle', url: 'file:///w/adapters/http/pos.ts', lineNumber: 9 }, children: [3] },
      { id: 3, callFrame: { functionName: 'purchase', url: 'file:///w/processor/purchase.ts', lineNumber: 40 }, children: [4] },
      { id: 4, callFrame: { functionName: 'hmac', url: 'node:internal/crypto/hash', lineNumber: 1 } },
      { id: 5, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    endTime: 10_000,
    samples: [3, 4, 4, 5, 2],
    timeDeltas: [1000, 2000, 1000, 5000, 1000],
  };
  const s = summariseProfile(profile);

  it('counts self time by function and area, idle apart', () => {
    expect(s.busy_ms).toBe(5);
    expect(s.idle_ms).toBe(5);
    expect(s.areas.find((a) => a.name === 'node:internal/crypto')).toMatchObject({ ms: 3, percent: 60 });
    expect(s.functions[0]!.name).toBe('hmac node:internal/crypto:2');
  });

  it('counts inclusive time once per area on the stack', () => {
    expect(s.inclusive.find((a) => a.name === 'adapters/http/pos.ts')!.ms).toBe(5);
    expect(s.inclusive.find((a) => a.name === 'processor/purchase.ts')!.ms).toBe(4);
  });
});
