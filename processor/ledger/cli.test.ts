// cli.ts commandArgs: the options `npm run` takes for itself when written without `--`, put back.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { commandArgs, progressBar } from './cli.ts';

const reconcile = { 'wait-seconds': { type: 'string' }, business: { type: 'string' } } as const;
const rebuild = { force: { type: 'boolean' } } as const;
const npm = (event: string, config: Record<string, string>) => ({ npm_lifecycle_event: event, ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`npm_config_${k}`, v])) });

describe('commandArgs', () => {
  it('leaves arguments alone outside npm, and those written after `--`', () => {
    expect(commandArgs(rebuild, ['--force'], {})).toEqual(['--force']);
    expect(commandArgs(rebuild, [], { npm_config_force: 'true' })).toEqual([]);
    expect(commandArgs(reconcile, ['--business', 'bus_1'], npm('reconcile', {}))).toEqual(['--business', 'bus_1']);
  });

  it('puts back a flag npm took (`npm run rebuild --force`), and an option with its value', () => {
    expect(commandArgs(rebuild, [], npm('rebuild', { force: 'true' }))).toEqual(['--force']);
    expect(commandArgs(rebuild, [], npm('rebuild', { force: 'false' }))).toEqual([]);
    expect(commandArgs(reconcile, [], npm('reconcile', { business: 'bus_2' }))).toEqual(['--business=bus_2']);
  });

  it('gives a value npm left alone back to the one option npm took (`npm run reconcile --business bus_1`)', () => {
    expect(commandArgs(reconcile, ['bus_1'], npm('reconcile', { business: 'true' }))).toEqual(['--business=bus_1']);
    expect(commandArgs(reconcile, ['--business', 'bus_1', '5'], npm('reconcile', { wait_seconds: 'true' }))).toEqual(['--business', 'bus_1', '--wait-seconds=5']);
  });

  it('refuses to guess which lone value is which option’s, saying how to write it', () => {
    expect(() => commandArgs(reconcile, ['5', 'bus_1'], npm('reconcile', { business: 'true', wait_seconds: 'true' }))).toThrow('npm took --wait-seconds and --business for itself: write `npm run reconcile -- --wait-seconds <value> --business <value>`');
    expect(() => commandArgs(reconcile, [], npm('reconcile', { business: 'true' }))).toThrow(/npm took --business/);
  });
});

describe('progressBar (lines off a terminal, as npm run rebuild prints them)', () => {
  it('an empty phase, and one with no progress yet, show no eta rather than cli-progress\'s "LLs"', () => {
    let text = '';
    const stream = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
    const bar = progressBar(true, stream);
    bar.start(0, 'network: links');
    bar.stop();
    bar.start(10, 'contacts');
    bar.update(0);
    bar.stop();
    expect(text).toContain('network: links');
    expect(text).toContain('0/0 (100%) eta -');
    expect(text).toContain('0/10 (0%) eta -');
    expect(text).not.toMatch(/LLs|NULL|INF/);
  });
});
