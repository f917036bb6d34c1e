// The fuzzer (test/fuzz.ts) against a listening gateway, from outside: real HTTP, the WebSocket
// channel, ISO 8583 over TCP and signed callbacks, with a fixed seed so that every run sends the
// same cases (FUZZ_SEED and FUZZ_SCALE, a multiplier of the case counts, explore further). What
// it checks is the ground rules': an answer within 2 s, never a 5xx, every error problem+json,
// a refused call changing nothing, the process ready throughout, no card number stored or logged.
// At scale 1: 1,500 HTTP requests over every route, 200 raw HTTP/1.1 requests, 400 WebSocket
// frames, 500 ISO 8583 messages, 300 callback requests: about 10 s. FUZZ_VERBOSE=1 prints the
// answers' tally per surface; FUZZ_URL and the rest (outsideTarget) aim it at a running gateway.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, connectRedis, type RedisClient, type Sql } from '../processor/stores.ts';
import { checkAlive, findPans, fuzzCallbacks, fuzzHttp, fuzzRawHttp, fuzzIso, fuzzWs, makeWorld, unexplainedTransactions, type Finding, type FuzzTarget, type Tally, type World } from './fuzz.ts';
import { eventually, patient_probes, startTestGateway, type TestGateway } from './helpers.ts';
import { connectTestRedis, connectTestSql } from './ledger-helpers.ts';

const seed = Number(process.env.FUZZ_SEED ?? 20261124);
const scale = Number(process.env.FUZZ_SCALE ?? 1);
/** Cases per surface at scale 1. */
export const runs = { http: Math.round(1_500 * scale), raw_http: Math.round(200 * scale), ws: Math.round(400 * scale), iso: Math.round(500 * scale), callbacks: Math.round(300 * scale) };

let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let target: FuzzTarget;
let world: World;
const findings: Finding[] = [];
const tallies: Record<string, Tally> = {};

/**
 * By hand, a gateway already running (`npm start`) instead of one in this process: FUZZ_URL,
 * FUZZ_ISO_PORT, FUZZ_REDIS_URL, FUZZ_DATABASE_URL, FUZZ_PLATFORM_KEY and FUZZ_LOG_FILE (its output).
 */
async function outsideTarget(): Promise<FuzzTarget> {
  const env = (name: string) => process.env[name] ?? (() => { throw new Error(`${name} is needed with FUZZ_URL`); })();
  redis = await connectRedis(env('FUZZ_REDIS_URL'));
  sql = connectPostgres(env('FUZZ_DATABASE_URL'), 4);
  const log_file = env('FUZZ_LOG_FILE');
  return { base: env('FUZZ_URL'), iso_port: Number(env('FUZZ_ISO_PORT')), platform_key: env('FUZZ_PLATFORM_KEY'), sql, redis, logs: () => readFileSync(log_file, 'utf8') };
}

beforeAll(async () => {
  if (process.env.FUZZ_URL !== undefined) target = await outsideTarget();
  else {
    // About bad input, not outages: probes that ride out a stalled machine (patient_probes).
    gw = await startTestGateway({ log_level: 'debug', ...patient_probes }, true, true);
    redis = await connectTestRedis(0);
    sql = connectTestSql();
    target = { base: `http://127.0.0.1:${gw.port}`, iso_port: gw.iso8583_port, platform_key: process.env.PLATFORM_API_KEY!, sql, redis, logs: () => gw.logs.join('') };
  }
  world = await makeWorld(target);
});
afterAll(async () => {
  if (Object.keys(tallies).length > 0 && process.env.FUZZ_VERBOSE) console.log(JSON.stringify(tallies, null, 1));
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

const report = (surface: string) => findings.filter((f) => f.surface === surface).map((f) => `${f.what}\n    ${f.input}`);

describe(`fuzzing a gateway from outside (seed ${seed})`, () => {
  it(`HTTP: ${runs.http} requests over every route of /openapi.json`, async () => {
    tallies.http = await fuzzHttp(target, world, seed, runs.http, findings);
    expect(report('http')).toEqual([]);
  }, 120_000);

  it(`raw HTTP/1.1: ${runs.raw_http} requests no HTTP client sends`, async () => {
    tallies.raw_http = await fuzzRawHttp(target, world, seed + 4, runs.raw_http, findings);
    expect(report('http')).toEqual([]);
  }, 120_000);

  it(`the WebSocket terminal channel: ${runs.ws} frames`, async () => {
    tallies.ws = await fuzzWs(target, world, seed + 1, runs.ws, findings);
    expect(report('ws')).toEqual([]);
  }, 120_000);

  it(`ISO 8583: ${runs.iso} messages`, async () => {
    tallies.iso = await fuzzIso(target, world, seed + 2, runs.iso, findings);
    expect(report('iso')).toEqual([]);
  }, 120_000);

  it(`processor callbacks: ${runs.callbacks} signed (and mis-signed) requests`, async () => {
    tallies.callbacks = await fuzzCallbacks(target, world, seed + 3, runs.callbacks, findings);
    expect(report('callback')).toEqual([]);
  }, 120_000);

  it('the process stayed ready and logged no error', async () => {
    await checkAlive(target, findings);
    expect(report('process')).toEqual([]);
    const errors = target.logs().split('\n').filter((l) => /"level":(50|60)/.test(l)).map((l) => l.slice(0, 600));
    expect(errors).toEqual([]);
  });

  it('no card number is stored or logged, and the ledger holds only what answers approved', async () => {
    // The ledger writer records each entry a few ms after its reply: wait until it has every approved one.
    await eventually('the ledger to catch up', async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${[...world.approved_ids]})`;
      return row!.n === world.approved_ids.size || undefined;
    }, 20_000);
    expect(await findPans(target, world)).toEqual([]);
    expect(await unexplainedTransactions(target, world)).toEqual([]);
  }, 120_000);
});
