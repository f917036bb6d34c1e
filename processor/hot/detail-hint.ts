// The detail hint script (detail-hint.lua): a contact's email or phone on file added to its hint
// in the CIM index, or the hint marked as naming nobody ('*').

import { hotScript, unexpected } from './define.ts';
import { arg, layout } from './layout.ts';

const detail_hint_layout = layout(
  { bucket: 1 },
  {
    /** The hint's field in its bucket (cim-index.ts entry). */
    field: arg.bytes(),
    /** The contact's id as the index holds it (core/ids.ts contactIdBytes); empty for 'several'. */
    contact: arg.bytes(),
    mode: arg.str<'add' | 'several'>(),
  },
);

export interface DetailHintCall {
  readonly key: string;
  readonly field: Buffer;
  readonly contact: Buffer;
  readonly mode: 'add' | 'several';
}

export const detail_hint_script = hotScript({
  files: ['detail-hint.lua'],
  layouts: [detail_hint_layout],
  parseCommand(parser, call: DetailHintCall) {
    detail_hint_layout.pushKeys(parser, { bucket: call.key });
    detail_hint_layout.pushArgs(parser, { field: call.field, contact: call.contact, mode: call.mode });
  },
  transformReply(raw): null {
    if (raw === null) return null;
    throw unexpected(raw);
  },
});
