// The reply to an ISO 8583 request: its MTI and the fields it echoes.

import { createMessage, type IsoMessage } from './codec.ts';

/** Response MTI for a request MTI, as jPOS ISOMsg.setResponseMTI: third digit + 1, a repeat
 *  (fourth digit odd) answered as the original: 0200→0210, 0800→0810, 0100→0110, 0400→0410,
 *  0401→0410, 0420→0430, 0421→0430. A MTI that is already a response (third digit odd) is
 *  returned unchanged so that even a malformed response from a peer can be answered with 30. */
export function responseMti(mti: string): string {
  if (mti.length !== 4) throw new RangeError(`MTI "${mti}" is not 4 digits`);
  for (let i = 0; i < 4; i++) {
    const c = mti.charCodeAt(i);
    if (c < 48 || c > 57) throw new RangeError(`MTI "${mti}" is not 4 digits`);
  }
  const third = mti.charCodeAt(2) - 48;
  if (third % 2 === 1) return mti;
  const origin = mti.charCodeAt(3) - 48;
  const fourth = origin <= 5 ? origin - (origin % 2) : origin;
  return mti.slice(0, 2) + String(third + 1) + String(fourth);
}

export function isRequestMti(mti: string): boolean {
  return mti.length === 4 && (mti.charCodeAt(2) - 48) % 2 === 0;
}

/** Fields copied from a request into its response. DE2 (PAN) is deliberately not among them. */
export const ECHO_FIELDS: readonly number[] = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49];

/** The response to `request` with DE39 = code: the response MTI, the ECHO_FIELDS the request
 *  carries (never DE2: the PAN is not echoed), then the fields of `extra` on top. */
export function replyTo(request: IsoMessage, code: string, extra?: Readonly<Record<number, string>>): IsoMessage {
  const reply = createMessage(responseMti(request.mti));
  const from = request.fields;
  const to = reply.fields;
  for (const f of ECHO_FIELDS) {
    const v = from[f];
    if (v !== undefined) to[f] = v;
  }
  to[39] = code;
  if (extra) {
    for (const key of Object.keys(extra)) {
      const f = Number(key);
      if (Number.isInteger(f) && f >= 2 && f <= 128) to[f] = extra[f];
    }
  }
  return reply;
}
