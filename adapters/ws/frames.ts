// The terminal channel's frames (TERMINAL.md): a request `{id, op, body}` read from a text frame,
// and a reply `{id, status, body, replayed?}` written around the bytes the processor or the
// problem mapping wrote (never parsed and written again). Pure: no socket here.

import { PocketgateError, type FieldError } from '../../core/errors.ts';
import { checkStorable, parseJsonSyntax } from '../../core/schemas.ts';
import { emptyBody } from '../http/body.ts';
import { key_length_max } from '../http/env.ts';
import { isTerminalOp, terminal_op_names, type TerminalOpName } from '../terminal-ops.ts';

export const id_length_max = 64;

export type Frame =
  | { readonly kind: 'request'; readonly id: string; readonly op: TerminalOpName; readonly body: unknown }
  /** Not a request: answered with this problem under `id` (null when the frame's id is not readable). */
  | { readonly kind: 'bad'; readonly id: string | null; readonly error: PocketgateError };

const op_message = `must be one of ${terminal_op_names.join(', ')}`;
const id_message = `a string of 1 to ${id_length_max} characters, the client's own`;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 1 to id_length_max characters, counted as code points: an emoji is one character, two UTF-16 units. */
function readableId(id: unknown): string | null {
  if (typeof id !== 'string' || id.length === 0) return null;
  if (id.length <= id_length_max) return id;
  // Only astral characters make the units outnumber the characters, at most two to one.
  if (id.length > 2 * id_length_max) return null;
  let chars = 0;
  for (const _ of id) if (++chars > id_length_max) return null;
  return id;
}

/** A text frame as a request, or as the bad frame it is (not JSON, no readable id, no known op, a body no store can hold). */
export function readFrame(text: string): Frame {
  let frame: unknown;
  try {
    frame = parseJsonSyntax(text);
  } catch (err) {
    return { kind: 'bad', id: null, error: err as PocketgateError };
  }
  if (!isObject(frame)) return bad(null, [{ path: '', message: 'a frame is a JSON object {id, op, body}' }]);
  const id = readableId(frame.id);
  const errors: FieldError[] = [];
  if (id === null) errors.push({ path: 'id', message: id_message });
  if (!isTerminalOp(frame.op)) errors.push({ path: 'op', message: op_message });
  if (id === null || !isTerminalOp(frame.op)) return bad(id, errors);
  // No body: what HTTP answers a POST with none (`wallet` is a GET's query over HTTP: its own errors).
  if (frame.body === undefined && frame.op !== 'wallet') return { kind: 'bad', id, error: emptyBody() };
  try {
    // The body's paths as HTTP names them: from the body, not from the frame.
    checkStorable(text, frame.body);
  } catch (err) {
    return { kind: 'bad', id, error: err as PocketgateError };
  }
  return { kind: 'request', id, op: frame.op, body: frame.body };
}

function bad(id: string | null, errors: FieldError[]): Frame {
  const first = errors[0]!;
  return { kind: 'bad', id, error: new PocketgateError('validation_failed', `${first.path || 'frame'}: ${first.message}`, errors) };
}

/** The key of an auth frame `{"op": "auth", "key": "<terminal key>"}`, or undefined when the frame is anything else. */
export function readAuthFrame(text: string): string | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(frame) || frame.op !== 'auth' || typeof frame.key !== 'string') return undefined;
  return frame.key.length >= 1 && frame.key.length <= key_length_max ? frame.key : undefined;
}

export interface FrameReply {
  readonly status: number;
  /** JSON, as HTTP would send it. */
  readonly body: string;
  readonly replayed: boolean;
}

/** A reply frame; `body` (JSON already) goes in as it is. */
export function replyFrame(id: string | null, reply: FrameReply): string {
  return `{"id":${id === null ? 'null' : JSON.stringify(id)},"status":${reply.status},"body":${reply.body}${reply.replayed ? ',"replayed":true' : ''}}`;
}

/** The answer to a good auth frame. */
export const auth_accepted = '{"id":null,"status":200}';
