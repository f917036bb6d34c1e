// The backlog script (backlog.lua): the entries of one shard's journal the ledger has not
// recorded, counted in Redis at one instant (no entry is sent back).

import { hotScript, unexpected } from './define.ts';
import { journal_group, journalKey } from './keys.ts';
import { arg, layout } from './layout.ts';

const backlog_layout = layout({ journal: 1 }, { group: arg.str(), counted_max: arg.int() });

/**
 * Entries of a run read to be counted at most (backlog.lua): above what a shard holds undelivered
 * while the writer keeps up, and each read costs Redis its entries (about 0.5 µs each).
 */
export const backlog_counted_max = 1_000;

export interface BacklogCall {
  readonly shard: number;
  /** Tests only: a smaller bound, to reach its branches with few entries. */
  readonly counted_max?: number;
}

export interface ShardBacklog {
  readonly entries: number;
  /** False only when both runs passed the bound: the stream's length stood in, acknowledged entries not yet trimmed included. */
  readonly exact: boolean;
}

export const backlog_script = hotScript({
  files: ['backlog.lua'],
  layouts: [backlog_layout],
  read_only: true,
  parseCommand(parser, call: BacklogCall) {
    backlog_layout.pushKeys(parser, { journal: journalKey(call.shard) });
    backlog_layout.pushArgs(parser, { group: journal_group, counted_max: call.counted_max ?? backlog_counted_max });
  },
  transformReply(raw): ShardBacklog {
    if (Array.isArray(raw) && raw.length === 2 && Number.isSafeInteger(raw[0]) && (raw[0] as number) >= 0 && (raw[1] === 0 || raw[1] === 1)) {
      return { entries: raw[0] as number, exact: raw[1] === 1 };
    }
    throw unexpected(raw);
  },
});
