// `npm start` on an empty database seeds a demo business: once, however many gateways start on it
// at once (an operator probe, 2026-12-06: two started together seeded two, each printing its
// own keys), and the banner shows demo keys only where that business is this database's (the
// folder's demo.json was another database's, and its keys answered 401 here).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../gateway/seed.ts';
import { connectPostgres, type Sql } from '../processor/stores.ts';
import { platform_key, startTestGateway, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

const database = `pocketgate_demo_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'pocketgate-demo-'));
let admin: Sql;
let own: OwnRedis;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  admin = connectPostgres(process.env.DATABASE_URL!, 1);
  await admin.unsafe(`drop database if exists ${database}`);
  await admin.unsafe(`create database ${database}`);
  own = await startOwnRedis();
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  // One after the other: their migrations are not what this is about.
  for (let i = 0; i < 2; i++) gateways.push(await startTestGateway({ database_url: url.toString(), redis_url: own.url, ledger_writer: false }));
}, 120_000);
afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await own?.stop();
  await admin?.unsafe(`drop database if exists ${database}`);
  await admin?.end({ timeout: 5 });
  rmSync(dir, { recursive: true, force: true });
});

describe('the demo seed', () => {
  it('two gateways seeding at once make one demo business; a demo.json of another database is not shown', async () => {
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await Promise.all(gateways.map((gw) => seedDemo(gw, 'http://localhost:1', platform_key, dir, platform_key)));
      const sql = gateways[0]!.processor.stores.sql;
      const [{ n }] = (await sql`select count(*)::int as n from businesses where name = 'Demo Coffee Co'`) as unknown as [{ n: number }];
      expect(n).toBe(1);
      // Both banners show the one demo's keys.
      expect(written.filter((w) => w.includes('Demo business'))).toHaveLength(2);
      // Another database's keys in the folder: not shown.
      writeFileSync(join(dir, 'demo.json'), JSON.stringify({ business_id: 'bus_ofanotherdatabase', admin_key: 'sk_other', terminal_key: 'tk_other', email: 'x@example.com' }));
      written.length = 0;
      await seedDemo(gateways[0]!, 'http://localhost:1', platform_key, dir, undefined);
      expect(written.join('')).not.toContain('sk_other');
      expect(written.join('')).not.toContain(platform_key); // not made by npm start: not shown
    } finally {
      process.stdout.write = write;
    }
  });
});
