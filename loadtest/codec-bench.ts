// ISO 8583 codec throughput: pack + unpack of a Pocketgate 0200 purchase and its 0210 reply,
// ours against the `iso_8583` npm package on the same field values, alternated A B A B on one
// core (shared machines are noisy; only side-by-side ratios mean anything). Medians per side.
// `npx tsx loadtest/codec-bench.ts [seconds]`, or call runCodecBench from another runner.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { encodeAdditionalAmounts } from '../adapters/iso8583/additional-amounts.ts';
import { createMessage, decode, encode, fieldsRecord, type BitmapEncoding, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { purchase_fields } from '../adapters/iso8583/testdata/purchase.ts';
import { median } from './measure.ts';

// iso_8583 is CommonJS without types; this is the slice of its API the bench uses.
interface Iso8583Instance {
  getRawMessage(): Buffer | { error: string };
  getIsoJSON(buf: Buffer, config?: { lenHeader?: boolean }): Record<string, string> & { error?: string };
}
type Iso8583Ctor = new (message?: Record<string, string>) => Iso8583Instance;
const Iso8583 = createRequire(import.meta.url)('iso_8583') as Iso8583Ctor;

const request = purchase_fields;
const response: Record<number, string> = {
  ...request,
  38: 'A1B2C3',
  39: '00',
  54: encodeAdditionalAmounts([
    { accountType: '00', amountType: '90', currency: '978', sign: 'C', amount: 250 },
    { accountType: '00', amountType: '91', currency: '978', sign: 'C', amount: 100 },
  ]),
};

export interface CodecBenchOptions {
  /** Total measuring time, split evenly over rounds and sides. */
  seconds?: number;
  rounds?: number;
  bitmap?: BitmapEncoding;
}

export interface CodecBenchFigures {
  /** pack+unpack pairs per second (a 0200 pair and a 0210 pair count as two) */
  oursPerSecond: number;
  iso8583PerSecond: number;
  /** oursPerSecond / iso8583PerSecond */
  ratio: number;
  oursRounds: number[];
  iso8583Rounds: number[];
  seconds: number;
  rounds: number;
  bitmap: BitmapEncoding;
}

type Side = () => number;

function oursSide(bitmap: BitmapEncoding): Side {
  const req: IsoMessage = createMessage('0200', request);
  const res: IsoMessage = createMessage('0210', response);
  const options = { bitmap };
  return () => {
    const a = decode(encode(req, options), options);
    const b = decode(encode(res, options), options);
    return a.fields.length + b.fields.length;
  };
}

function iso8583Side(): Side {
  const req = { 0: '0200', ...request };
  const res = { 0: '0210', ...response };
  return () => {
    const a = new Iso8583(req).getRawMessage() as Buffer;
    const b = new Iso8583(res).getRawMessage() as Buffer;
    const x = new Iso8583().getIsoJSON(a, { lenHeader: false });
    const y = new Iso8583().getIsoJSON(b, { lenHeader: false });
    return a.length + b.length + (x['0'] === undefined ? 0 : 1) + (y['0'] === undefined ? 0 : 1);
  };
}

/** Both sides must really round-trip these messages, or the comparison means nothing. */
function checkSides(bitmap: BitmapEncoding): void {
  for (const [mti, values] of [['0200', request], ['0210', response]] as const) {
    const ours = decode(encode(createMessage(mti, values), { bitmap }), { bitmap });
    if (JSON.stringify(fieldsRecord(ours)) !== JSON.stringify(values)) throw new Error(`our codec altered ${mti}`);
    const packed = new Iso8583({ 0: mti, ...values }).getRawMessage();
    if (!Buffer.isBuffer(packed)) throw new Error(`iso_8583 refused ${mti}: ${packed.error}`);
    const theirs = new Iso8583().getIsoJSON(packed, { lenHeader: false });
    for (const [k, v] of Object.entries(values)) {
      if (theirs[k] !== v) throw new Error(`iso_8583 altered ${mti} field ${k}: ${String(theirs[k])}`);
    }
  }
}

let sink = 0;

/** Pairs per second of one side over `ms` milliseconds (each call does two pairs). */
function measure(side: Side, ms: number): number {
  let calls = 0;
  let batch = 64;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) sink += side();
    calls += batch;
    now = performance.now();
    if (now - start < ms / 20) batch *= 2; // fewer clock reads once it is clear how fast a side is
  }
  return (calls * 2 * 1000) / (now - start);
}


export function runCodecBench(options: CodecBenchOptions = {}): CodecBenchFigures {
  const seconds = options.seconds ?? 10;
  const rounds = options.rounds ?? 5;
  const bitmap = options.bitmap ?? 'hex';
  if (!(seconds > 0) || !Number.isInteger(rounds) || rounds < 1) throw new RangeError('seconds > 0 and rounds ≥ 1');
  checkSides(bitmap);
  const ours = oursSide(bitmap);
  const theirs = iso8583Side();
  // warm both up so the first round does not measure the JIT
  measure(ours, 200);
  measure(theirs, 200);
  const slice = (seconds * 1000) / (2 * rounds);
  const oursRounds: number[] = [];
  const iso8583Rounds: number[] = [];
  for (let r = 0; r < rounds; r++) {
    oursRounds.push(measure(ours, slice));
    iso8583Rounds.push(measure(theirs, slice));
  }
  const oursPerSecond = median(oursRounds);
  const iso8583PerSecond = median(iso8583Rounds);
  if (sink === -1) console.log(sink); // keeps the work observable
  return { oursPerSecond, iso8583PerSecond, ratio: oursPerSecond / iso8583PerSecond, oursRounds, iso8583Rounds, seconds, rounds, bitmap };
}

const GOAL = 15;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 10);
  const f = runCodecBench({ seconds });
  const k = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`;
  console.log(`ISO 8583 pack+unpack, 0200 + 0210, ${f.rounds} alternating rounds, ${f.seconds}s, ${f.bitmap} bitmaps`);
  console.log(`  round   ours            iso_8583`);
  f.oursRounds.forEach((o, i) => console.log(`  ${String(i + 1).padEnd(7)} ${k(o).padEnd(15)} ${k(f.iso8583Rounds[i]!)}`));
  console.log(`  median  ${k(f.oursPerSecond).padEnd(15)} ${k(f.iso8583PerSecond)}`);
  console.log(`  ratio   ${f.ratio.toFixed(1)}× (goal ≥ ${GOAL}×: ${f.ratio >= GOAL ? 'met' : 'NOT met'})`);
}
