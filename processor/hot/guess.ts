// The counters of wrong guesses (core/guesses.ts) as Redis keys, and the guess script
// (guess.lua): a wallet or contact code's guess reserved with its lookup, then released if
// right or counted if wrong.

import { guessCounters, guessSubject, type GuessKind, type GuessScope } from '../../core/guesses.ts';
import { answerOf, hotScript, unexpected } from './define.ts';
import { guessKey, guessPendingKey } from './keys.ts';
import { arg, layout } from './layout.ts';

/**
 * The rate_limited refusals whose wrong code was counted all the same (past a soft limit a wrong
 * code is counted, then answered 429), so that a repeat of the request gives its guess back as it
 * gives back a refusal's: copies sent at once of one refused spend, each past the soft limit,
 * counted one guess each and locked their terminal out (a black-box probe, 2026-12-06).
 */
export const counted_rate_limits = new WeakSet<object>();

/** Who presents a code: the terminal, and the source it came from (client or peer address). */
export interface Presenter {
  readonly terminal_id: string;
  readonly source: string;
}

export interface GuessLimit {
  readonly max: number;
  readonly ttl_s: number;
  /** 1: at the limit every guess is refused; 0: only wrong ones are answered rate_limited. */
  readonly hard: number;
}

/** The counters a guess is checked against and counted in, with their limits. */
export interface GuessCounters {
  readonly keys: readonly string[];
  /** Beside each counter: its guesses being looked up now (guess.lua; otp.lua counts in one script, with none). */
  readonly pending_keys: readonly string[];
  readonly limits: readonly GuessLimit[];
}

const counter_count = 4;

/** What guess.lua and otp.lua take to count: the counters' keys and limits. */
export const counters_layout = layout({ counters: counter_count }, { limits: arg.list({ max: arg.int(), ttl_s: arg.int(), hard: arg.int() }, counter_count) });

const kind_tag: Readonly<Record<GuessKind, string>> = { otp: 'o', code: 'c', card_or_code: 'd' };
const scope_tag: Readonly<Record<GuessScope, string>> = { terminal_minute: 'tm', pair_day: 'pd', terminal_day: 'td', source_day: 'sd' };

export function guessCountersOf(business_id: string, kind: GuessKind, presenter: Presenter, now_ms: number): GuessCounters {
  const counters = guessCounters(kind, now_ms);
  if (counters.length !== counter_count) throw new Error(`guess counters: ${counter_count} expected, not ${counters.length}`);
  const subjects = counters.map((c) => guessSubject(c.scope, presenter.terminal_id, presenter.source));
  return {
    keys: counters.map((c, i) => guessKey(business_id, kind_tag[kind], scope_tag[c.scope], c.window, subjects[i]!)),
    pending_keys: counters.map((c, i) => guessPendingKey(business_id, kind_tag[kind], scope_tag[c.scope], c.window, subjects[i]!)),
    limits: counters.map((c) => ({ max: c.max, ttl_s: c.ttl_s, hard: c.hard ? 1 : 0 })),
  };
}

/** reserve before the lookup; right or wrong after it; give_back a wrong guess counted (guess.lua). */
export type GuessMode = 'reserve' | 'right' | 'wrong' | 'give_back';

const guess_layout = layout({ pending: counter_count }, { mode: arg.str<GuessMode>() });

export interface GuessCall {
  readonly mode: GuessMode;
  readonly counters: GuessCounters;
}

/**
 * reserve: reserved (soft: past the soft limit, so a wrong code is answered 429), busy (only
 * guesses being looked up fill a hard limit now: ask again), or rate_limited (a hard limit is
 * reached); right: released; wrong: counted; give_back: given_back.
 */
export type GuessOutcome = { readonly outcome: 'busy' | 'rate_limited' | 'released' | 'counted' | 'given_back' } | { readonly outcome: 'reserved'; readonly soft: boolean };

export const guess_script = hotScript({
  files: ['guess-lib.lua', 'guess.lua'],
  layouts: [guess_layout, counters_layout],
  parseCommand(parser, call: GuessCall) {
    guess_layout.pushKeys(parser, { pending: call.counters.pending_keys });
    counters_layout.pushKeys(parser, { counters: call.counters.keys });
    guess_layout.pushArgs(parser, { mode: call.mode });
    counters_layout.pushArgs(parser, { limits: call.counters.limits });
  },
  transformReply(raw): GuessOutcome {
    const answer = answerOf(raw);
    switch (answer[0]) {
      case 'busy':
      case 'rate_limited':
      case 'released':
      case 'counted':
      case 'given_back':
        return { outcome: answer[0] };
      case 'reserved':
        return { outcome: 'reserved', soft: answer[1] === 1 };
    }
    throw unexpected(raw);
  },
});
