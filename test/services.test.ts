// Where `npm start` and `npm test` keep PostgreSQL's files: never by opening folders outside the
// project to other users (run as root, the scripts once added o+x to every folder above).

import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (the scripts run before npm ci, with node: builtins only)
import { pgBaseDir } from '../scripts/services.mjs';

const modes = (m: Record<string, number>) => (dir: string) => ({ mode: m[dir] ?? 0o755 });

describe('pgBaseDir', () => {
  it('is the checkout’s .data/<profile> when every folder above can be passed, or when not root', () => {
    expect(pgBaseDir('/work/main', 'test', true, modes({}))).toBe('/work/main/.data/test');
    expect(pgBaseDir('/root/main', 'test', false, modes({ '/root': 0o700 }))).toBe('/root/main/.data/test');
  });

  it('is a folder of its own under /var/tmp, named after the checkout, when a folder above is closed', () => {
    const a = pgBaseDir('/root/projects/main', 'dev', true, modes({ '/root': 0o700 }));
    expect(a).toMatch(/^\/var\/tmp\/pocketgate-main-[0-9a-f]{12}\/dev$/);
    // Stable for one checkout, different for another of the same name.
    expect(pgBaseDir('/root/projects/main', 'dev', true, modes({ '/root': 0o700 }))).toBe(a);
    expect(pgBaseDir('/root/other/main', 'dev', true, modes({ '/root': 0o700 }))).not.toBe(a);
    expect(pgBaseDir('/root/projects/main', 'test', true, modes({ '/root/projects/main': 0o750 }))).toMatch(/\/test$/);
  });
});
