// The lease script (lease.lua): keys of one slot held by one holder at once, all or none.

import { hotScript, unexpected } from './define.ts';
import { arg, layout } from './layout.ts';

/** Two keys, always: one lease is sent as the same key twice. */
const lease_layout = layout({ leases: 2 }, { holder: arg.str(), op: arg.str<LeaseOp>(), lease_ms: arg.int() });

export type LeaseOp = 'take' | 'renew' | 'release';

export interface LeaseCall {
  /** Of one Redis Cluster slot (a hash tag in common). */
  readonly keys: readonly [string, string];
  /** Who holds them: a value of its own, random. */
  readonly holder: string;
  readonly op: LeaseOp;
  readonly lease_ms: number;
}

/** 'take': 1 if every key was free and is now held, else 0. 'renew', 'release': how many keys the holder still held. */
export const lease_script = hotScript({
  files: ['lease.lua'],
  layouts: [lease_layout],
  parseCommand(parser, call: LeaseCall) {
    lease_layout.pushKeys(parser, { leases: call.keys });
    lease_layout.pushArgs(parser, call);
  },
  transformReply(raw): number {
    if (raw === 0 || raw === 1 || raw === 2) return raw;
    throw unexpected(raw);
  },
});
