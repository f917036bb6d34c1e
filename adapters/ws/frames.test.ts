import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyBody } from '../http/body.ts';
import { readAuthFrame, readFrame, replyFrame } from './frames.ts';

describe('readFrame', () => {
  it('never throws, and names the id only when it is a string of 1 to 64 characters (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.record({ id: fc.anything(), op: fc.anything(), body: fc.anything() }).map((f) => JSON.stringify(f) ?? '')), (text) => {
        const f = readFrame(text);
        if (f.kind === 'request') expect(f.id.length).toBeGreaterThanOrEqual(1);
        else {
          expect(f.error.code).toBe('validation_failed');
          if (f.id !== null) expect([...f.id].length).toBeLessThanOrEqual(64);
        }
      }),
    );
  });

  it('an id is counted in characters, not UTF-16 units: 64 emoji are an id, 65 are not', () => {
    const frame = (id: string) => readFrame(JSON.stringify({ id, op: 'wallet', body: {} }));
    expect(frame('😀'.repeat(64))).toMatchObject({ kind: 'request', id: '😀'.repeat(64) });
    expect(frame(`${'😀'.repeat(63)}ab`)).toMatchObject({ kind: 'bad', id: null });
    expect(frame('😀'.repeat(65))).toMatchObject({ kind: 'bad', id: null });
    expect(frame('a'.repeat(64))).toMatchObject({ kind: 'request' });
    expect(frame('a'.repeat(65))).toMatchObject({ kind: 'bad', id: null });
  });

  it('a request keeps its body as sent; a body no store can hold is refused under its id, with the body’s path', () => {
    expect(readFrame('{"id":"a","op":"wallet","body":{"cim":{"type":"card","value":"1"}}}')).toEqual({ kind: 'request', id: 'a', op: 'wallet', body: { cim: { type: 'card', value: '1' } } });
    const bad = readFrame('{"id":"a","op":"wallet","body":{"cim":{"type":"card","value":"\\u0000"}}}');
    expect(bad.kind === 'bad' && [bad.id, bad.error.errors?.[0]?.path]).toEqual(['a', 'cim.value']);
    // An inherited property is no op.
    expect(readFrame('{"id":"a","op":"toString"}').kind).toBe('bad');
  });

  it('a frame with no body gets the problem HTTP gives a POST with none (a WebSocket probe: "body: … received undefined")', () => {
    for (const op of ['purchase', 'purchase.quote', 'redemption', 'spend', 'refund', 'reversal']) {
      const f = readFrame(JSON.stringify({ id: 'a', op }));
      expect(f.kind === 'bad' && [f.id, f.error.message, f.error.errors]).toEqual(['a', emptyBody().message, emptyBody().errors]);
    }
    // `wallet` is a GET's query over HTTP: its body is read by its own schema.
    expect(readFrame('{"id":"a","op":"wallet"}').kind).toBe('request');
  });
});

describe('replyFrame', () => {
  it('is JSON holding the id, status and body as given (fast-check)', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: null }), fc.integer({ min: 100, max: 599 }), fc.jsonValue(), fc.boolean(), (id, status, body, replayed) => {
        const text = replyFrame(id, { status, body: JSON.stringify(body), replayed });
        expect(JSON.parse(text)).toEqual({ id, status, body: JSON.parse(JSON.stringify(body)), ...(replayed ? { replayed: true } : {}) });
      }),
    );
  });
});

describe('readAuthFrame', () => {
  it('the key of {op: auth, key}, nothing else', () => {
    expect(readAuthFrame('{"op":"auth","key":"tk_1"}')).toBe('tk_1');
    for (const text of ['', 'x', '{"op":"auth"}', '{"op":"auth","key":""}', '{"op":"auth","key":5}', '{"op":"purchase","key":"k"}', `{"op":"auth","key":"${'k'.repeat(257)}"}`]) expect(readAuthFrame(text)).toBeUndefined();
  });
});
