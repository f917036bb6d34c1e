// The OTP script (otp.lua): the contact whose live code a terminal presented, wrong codes counted
// against the terminal and source (alone) or against the contact named (for).

import { answerOf, hotScript, textAt, unexpected } from './define.ts';
import { counters_layout, type GuessCounters } from './guess.ts';
import { otpIndexKey, otpTriesKey } from './keys.ts';
import { arg, layout } from './layout.ts';

const otp_layout = layout({ code: 1, tries: 1 }, { mode: arg.str<OtpMode>(), contact_id: arg.str(), tries_max: arg.int(), tries_ttl_s: arg.int() });

/** alone: a spend's code names the contact; for: a purchase names it. */
export type OtpMode = 'alone' | 'for';

export interface OtpCall {
  readonly business_id: string;
  readonly code: string;
  readonly mode: OtpMode;
  /** The contact named (for); '' alone. */
  readonly contact_id: string;
  /** Wrong tries against a contact's OTPs before they die, and how long the tries are kept (s). */
  readonly tries_max: number;
  readonly tries_ttl_s: number;
  /** The terminal's and source's counters of wrong OTPs (hot/guess.ts). */
  readonly counters: GuessCounters;
}

/** void: the contact's OTPs have run out of tries and must be deleted; counted: a wrong code refused past the soft limit, counted all the same. */
export type OtpOutcome = { readonly outcome: 'ok'; readonly contact_id: string } | { readonly outcome: 'rate_limited'; readonly counted: boolean } | { readonly outcome: 'otp_invalid'; readonly void: boolean };

export const otp_script = hotScript({
  files: ['guess-lib.lua', 'otp.lua'],
  layouts: [otp_layout, counters_layout],
  parseCommand(parser, call: OtpCall) {
    // Alone, no contact is named: the tries key is one no contact has, and is not touched.
    otp_layout.pushKeys(parser, { code: otpIndexKey(call.business_id, call.code), tries: otpTriesKey(call.business_id, call.contact_id) });
    counters_layout.pushKeys(parser, { counters: call.counters.keys });
    otp_layout.pushArgs(parser, call);
    counters_layout.pushArgs(parser, { limits: call.counters.limits });
  },
  transformReply(raw): OtpOutcome {
    const answer = answerOf(raw);
    switch (answer[0]) {
      case 'ok':
        return { outcome: 'ok', contact_id: textAt(answer, 1) };
      case 'rate_limited':
        return { outcome: 'rate_limited', counted: answer[1] === 'counted' };
      case 'otp_invalid':
        return { outcome: 'otp_invalid', void: answer[1] === 'void' };
    }
    throw unexpected(raw);
  },
});
