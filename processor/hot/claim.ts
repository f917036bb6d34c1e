// The claim script (claim.lua): a terminal's reference claimed for one request, or read.

import { hotScript, unexpected } from './define.ts';
import { arg, layout } from './layout.ts';
import { reference_periods, type ReferenceSlot } from './references.ts';

const claim_layout = layout(
  { claims: reference_periods },
  {
    field: arg.bytes(),
    /** What the claim holds (processor/claim.ts), written in this period if the reference is free. */
    value: arg.bytes(),
    ttl_ms: arg.int(),
    /** 'read': only look. */
    mode: arg.str<'claim' | 'read'>(),
  },
);

export interface ClaimCall {
  readonly slot: ReferenceSlot;
  readonly value: Buffer | string;
  readonly mode: 'claim' | 'read';
}

/** Answers the claim the reference had already (this period or the two before), or null. */
export const claim_script = hotScript({
  files: ['claim.lua'],
  layouts: [claim_layout],
  parseCommand(parser, call: ClaimCall) {
    claim_layout.pushKeys(parser, { claims: call.slot.claim_keys });
    claim_layout.pushArgs(parser, { field: call.slot.field, value: typeof call.value === 'string' ? Buffer.from(call.value) : call.value, ttl_ms: call.slot.ttl_ms, mode: call.mode });
  },
  /** The claim's bytes (a hash is not text), or null. */
  transformReply(raw): Buffer | null {
    if (raw === null || Buffer.isBuffer(raw)) return raw;
    throw unexpected(raw);
  },
  reply_bytes: true,
});
