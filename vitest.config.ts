import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'processor/**/*.test.ts', 'adapters/**/*.test.ts', 'gateway/**/*.test.ts', 'loadtest/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // expect.poll waits for what a browser or a process shows once it has done its work: 1 s (the
    // default) is too little in a full run, where some 230 files share two cores.
    expect: { poll: { timeout: 15_000 } },
  },
});
