// The one error class of Pocketgate. Every refusal the contract names is a PocketgateError with
// one of the contract's codes; adapters translate it (problem+json for HTTP, DE39 for ISO 8583).

export const error_status = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  contact_not_found: 404,
  idempotency_conflict: 409,
  insufficient_funds: 422,
  spend_blocked: 422,
  otp_invalid: 422,
  otp_expired: 422,
  wallet_code_invalid: 422,
  original_not_found: 404,
  already_reversed: 409,
  amount_exceeds_original: 422,
  cim_taken: 409,
  signup_not_allowed: 422,
  rate_limited: 429,
  signature_invalid: 401,
  unavailable: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof error_status;

/** Every code, in the order above (an enum in the OpenAPI document's answers). */
export const error_codes = Object.keys(error_status) as [ErrorCode, ...ErrorCode[]];

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

const titles: Record<ErrorCode, string> = {
  validation_failed: 'Request validation failed',
  unauthorized: 'Missing or invalid API key',
  forbidden: 'This key may not do that',
  not_found: 'Not found',
  contact_not_found: 'No contact for this CIM',
  idempotency_conflict: 'Reference reused with a different request',
  insufficient_funds: 'Insufficient funds',
  spend_blocked: 'Contact is blocked from spending',
  otp_invalid: 'Invalid one-time code',
  otp_expired: 'One-time code expired',
  wallet_code_invalid: 'Unknown wallet code',
  original_not_found: 'Original transaction not found',
  already_reversed: 'Transaction already reversed',
  amount_exceeds_original: 'Amount exceeds the original transaction',
  cim_taken: 'CIM already identifies another contact',
  signup_not_allowed: 'Sign-up not allowed',
  rate_limited: 'Too many requests',
  signature_invalid: 'Missing, malformed, wrong or stale signature',
  unavailable: 'Service unavailable',
  internal_error: 'Internal error',
};

export class PocketgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: readonly FieldError[] | undefined;
  /**
   * A repeat of a request refused before, under the same reference and body, refused again as
   * it was (HTTP: `Idempotent-Replayed: true`; the terminal channel: `"replayed": true`).
   */
  replayed = false;
  /** A 429's Retry-After, in seconds, where the limit lasts longer than the usual minute. */
  retry_after_s: number | undefined;

  /** `status` overrides the code's usual status where HTTP has its own word (426 for a WebSocket route asked no upgrade). */
  constructor(code: ErrorCode, detail?: string, errors?: readonly FieldError[], status?: number) {
    super(detail ?? titles[code]);
    this.name = 'PocketgateError';
    this.code = code;
    this.status = status ?? error_status[code];
    this.errors = errors;
  }

  get title(): string {
    return titles[this.code];
  }
}
