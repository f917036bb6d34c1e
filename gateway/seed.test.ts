// The demo's keys are saved where `npm start` says, even when nothing made that folder yet.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveDemo } from './seed.ts';

const root = mkdtempSync(join(tmpdir(), 'pocketgate-seed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('saveDemo', () => {
  it('creates the data folder (npm start with REDIS_URL and DATABASE_URL given makes none) and keeps the keys private', () => {
    const dir = join(root, '.data', 'dev');
    const demo = { business_id: 'bus_x', admin_key: 'sk_x', terminal_key: 'tk_x', email: 'demo1@example.com' };
    saveDemo(dir, demo);
    expect(JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8'))).toEqual(demo);
    expect(statSync(join(dir, 'demo.json')).mode & 0o777).toBe(0o600);
  });
});
