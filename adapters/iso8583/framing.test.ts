import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameDecoder, FramingError, MAX_FRAME, frame, type FramingMode } from './framing.ts';

const modes: FramingMode[] = ['binary2', 'ascii4'];

function bytes(n: number, fill = 0x41): Buffer {
  return Buffer.alloc(n, fill);
}

function framingError(fn: () => unknown): FramingError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramingError);
    return err as FramingError;
  }
  throw new Error('expected a FramingError');
}

describe('frame()', () => {
  it('writes a 2-byte big-endian length by default', () => {
    const out = frame(Buffer.from('0800ABC'));
    expect([...out.subarray(0, 2)]).toEqual([0, 7]);
    expect(out.subarray(2).toString()).toBe('0800ABC');
    expect([...frame(bytes(300)).subarray(0, 2)]).toEqual([1, 44]);
    expect([...frame(bytes(MAX_FRAME)).subarray(0, 2)]).toEqual([0x20, 0x00]);
  });

  it('writes 4 ASCII digits in ascii4 mode', () => {
    expect(frame(Buffer.from('0800ABC'), 'ascii4').toString()).toBe('00070800ABC');
    expect(frame(bytes(MAX_FRAME), 'ascii4').subarray(0, 4).toString()).toBe('8192');
    expect(frame(bytes(1234), 'ascii4').subarray(0, 4).toString()).toBe('1234');
  });

  it('refuses empty and oversize messages', () => {
    for (const mode of modes) {
      expect(framingError(() => frame(Buffer.alloc(0), mode)).reason).toBe('zero_length');
      const e = framingError(() => frame(bytes(MAX_FRAME + 1), mode));
      expect(e.reason).toBe('too_long');
      expect(e.length).toBe(MAX_FRAME + 1);
    }
  });
});

describe('FrameDecoder', () => {
  for (const mode of modes) {
    describe(mode, () => {
      it('reads many frames from one chunk as views of it (no copy)', () => {
        const bodies = Array.from({ length: 50 }, (_, i) => Buffer.from(`message number ${i}`));
        const chunk = Buffer.concat(bodies.map((b) => frame(b, mode)));
        const d = new FrameDecoder({ mode });
        const out = d.push(chunk);
        expect(out.map((b) => b.toString())).toEqual(bodies.map((b) => b.toString()));
        for (const f of out) expect(f.buffer).toBe(chunk.buffer);
        expect(d.pendingBytes).toBe(0);
        expect(d.midFrame).toBe(false);
      });

      it('reassembles frames fed one byte at a time', () => {
        const bodies = [bytes(1, 0x31), bytes(255, 0x32), bytes(256, 0x33), bytes(MAX_FRAME, 0x34), Buffer.from('0800 hello')];
        const wire = Buffer.concat(bodies.map((b) => frame(b, mode)));
        const d = new FrameDecoder({ mode });
        const out: Buffer[] = [];
        for (let i = 0; i < wire.length; i++) {
          out.push(...d.push(wire.subarray(i, i + 1)));
          expect(d.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME + 4);
        }
        expect(out).toEqual(bodies);
        expect(d.pendingBytes).toBe(0);
      });

      it('handles a prefix split from its body and a body split over chunks', () => {
        const body = Buffer.from('0200 a body in three pieces');
        const wire = frame(body, mode);
        const p = mode === 'ascii4' ? 4 : 2;
        const d = new FrameDecoder({ mode });
        expect(d.push(wire.subarray(0, 1))).toEqual([]);
        expect(d.midFrame).toBe(true);
        expect(d.push(wire.subarray(1, p + 3))).toEqual([]);
        expect(d.push(wire.subarray(p + 3, p + 10))).toEqual([]);
        expect(d.push(Buffer.concat([wire.subarray(p + 10), wire]))).toEqual([body, body]);
      });

      it('accepts 8192 bytes and refuses 8193 as soon as the prefix is read', () => {
        const d = new FrameDecoder({ mode });
        expect(d.push(frame(bytes(MAX_FRAME), mode))).toHaveLength(1);
        const big = mode === 'ascii4' ? Buffer.from('8193') : Buffer.from([0x20, 0x01]);
        const e = framingError(() => d.push(big));
        expect(e.reason).toBe('too_long');
        expect(e.length).toBe(8193);
        // the decoder stays failed: a byte stream with a bad frame cannot be resynchronised
        expect(() => d.push(frame(bytes(5), mode))).toThrow(FramingError);
        expect(d.pendingBytes).toBe(0);
      });

      it('refuses a zero-length frame', () => {
        const zero = mode === 'ascii4' ? Buffer.from('0000') : Buffer.from([0, 0]);
        const d = new FrameDecoder({ mode });
        expect(d.push(frame(bytes(3), mode))).toHaveLength(1);
        expect(framingError(() => d.push(zero)).reason).toBe('zero_length');
      });

      it('lets the caller stop midway: read() returns one frame at a time', () => {
        const wire = Buffer.concat([frame(bytes(10), mode), frame(bytes(20), mode), frame(bytes(30), mode)]);
        const d = new FrameDecoder({ mode });
        d.write(wire.subarray(0, wire.length - 5));
        expect(d.read()?.length).toBe(10);
        expect(d.pendingBytes).toBe(wire.length - 5 - 10 - (mode === 'ascii4' ? 4 : 2));
        expect(d.read()?.length).toBe(20);
        expect(d.read()).toBeNull();
        d.write(wire.subarray(wire.length - 5));
        expect(d.read()?.length).toBe(30);
        expect(d.read()).toBeNull();
      });
    });
  }

  it('ascii4 refuses a prefix that is not 4 digits', () => {
    const d = new FrameDecoder({ mode: 'ascii4' });
    expect(framingError(() => d.push(Buffer.from('00a7XXXXXXX'))).reason).toBe('bad_prefix');
    const split = new FrameDecoder({ mode: 'ascii4' });
    expect(split.push(Buffer.from('00'))).toEqual([]);
    expect(framingError(() => split.push(Buffer.from(' 7XXXXXXX'))).reason).toBe('bad_prefix');
  });

  it('binary2 max frame is 8192 even though 2 bytes could say 65535', () => {
    const d = new FrameDecoder();
    expect(framingError(() => d.push(Buffer.from([0xff, 0xff]))).length).toBe(65535);
  });
});

describe('FrameDecoder properties', () => {
  // a valid frame stream cut at arbitrary points yields exactly the frames, in order
  const bodyArb = fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: MAX_FRAME - 2, maxLength: MAX_FRAME }) },
  );

  for (const mode of modes) {
    it(`${mode}: arbitrary chunkings of valid frames yield exactly the frames`, () => {
      fc.assert(
        fc.property(fc.array(bodyArb, { minLength: 0, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (raw, cutsRaw) => {
          const bodies = raw.map((u) => Buffer.from(u));
          const wire = Buffer.concat(bodies.map((b) => frame(b, mode)));
          const cuts = [...new Set(cutsRaw.map((c) => (wire.length === 0 ? 0 : c % (wire.length + 1))))].sort((a, b) => a - b);
          const points = [0, ...cuts, wire.length];
          const d = new FrameDecoder({ mode });
          const out: Buffer[] = [];
          for (let i = 1; i < points.length; i++) {
            out.push(...d.push(wire.subarray(points[i - 1], points[i])));
            // after draining, nothing but one partial frame (prefix + body) is held
            expect(d.pendingBytes).toBeLessThanOrEqual(MAX_FRAME + 4);
            expect(d.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME + 4);
          }
          expect(out.length).toBe(bodies.length);
          out.forEach((f, i) => expect(f.equals(bodies[i]!)).toBe(true));
          expect(d.pendingBytes).toBe(0);
          expect(d.midFrame).toBe(false);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('arbitrary bytes either decode or throw FramingError, never anything else', () => {
    fc.assert(
      fc.property(fc.constantFrom<FramingMode>('binary2', 'ascii4'), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (mode, chunks) => {
        const d = new FrameDecoder({ mode });
        try {
          for (const c of chunks) for (const f of d.push(Buffer.from(c))) expect(f.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(FramingError);
        }
        expect(d.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME + 4);
      }),
      { numRuns: 500 },
    );
  });
});
