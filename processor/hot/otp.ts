// The OTP script (otp.lua): the contact whose live code a terminal sent, a wrong code counted
// against the terminal.

import { answerOf, hotScript, textAt, unexpected } from './define.ts';
import { otpFailuresKey, otpIndexKey } from './keys.ts';
import { arg, layout } from './layout.ts';

const otp_layout = layout({ code: 1, failures: 1 }, { failures_max: arg.int(), failures_ttl_s: arg.int() });

export interface OtpCall {
  readonly business_id: string;
  readonly terminal_id: string;
  readonly code: string;
  /** The clock minute wrong codes are counted in. */
  readonly minute: number;
  /** Wrong codes a terminal may send in a minute. */
  readonly failures_max: number;
  /** How long a minute's count is kept (s). */
  readonly failures_ttl_s: number;
}

export type OtpOutcome = { readonly outcome: 'ok'; readonly contact_id: string } | { readonly outcome: 'rate_limited' | 'otp_invalid' };

export const otp_script = hotScript({
  files: ['otp.lua'],
  layouts: [otp_layout],
  parseCommand(parser, call: OtpCall) {
    otp_layout.pushKeys(parser, { code: otpIndexKey(call.business_id, call.code), failures: otpFailuresKey(call.business_id, call.terminal_id, call.minute) });
    otp_layout.pushArgs(parser, call);
  },
  transformReply(raw): OtpOutcome {
    const answer = answerOf(raw);
    switch (answer[0]) {
      case 'ok':
        return { outcome: 'ok', contact_id: textAt(answer, 1) };
      case 'rate_limited':
      case 'otp_invalid':
        return { outcome: answer[0] };
    }
    throw unexpected(raw);
  },
});
