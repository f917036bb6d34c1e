// The deferred undo script (undo.lua): give back what a reversed purchase counted, once.

import { hotScript, unexpected } from './define.ts';
import { capsKey, contactKey, deferredUndosKey } from './keys.ts';
import { arg, layout } from './layout.ts';
import type { PurchaseUndo } from './reversal.ts';

const undo_layout = layout(
  { deferred: 1, caps: 1, contact: 1 },
  {
    /** The reversal whose deferral this gives back. */
    reversal: arg.str(),
    /** What its purchase counted, read from the ledger (caps and tier units; the purchase itself is given back). */
    undo: arg.json<PurchaseUndo>(),
  },
);

export interface UndoCall {
  readonly shard: number;
  readonly contact_id: string;
  readonly reversal: string;
  readonly undo: PurchaseUndo;
}

/** Answers whether it gave back now (false: the deferral was not there, given back already). */
export const undo_script = hotScript({
  files: ['counted.lua', 'undo.lua'],
  layouts: [undo_layout],
  parseCommand(parser, call: UndoCall) {
    undo_layout.pushKeys(parser, { deferred: deferredUndosKey(call.shard), caps: capsKey(call.shard, call.contact_id), contact: contactKey(call.shard, call.contact_id) });
    undo_layout.pushArgs(parser, call);
  },
  transformReply(raw): boolean {
    if (raw === 0 || raw === 1) return raw === 1;
    throw unexpected(raw);
  },
});
