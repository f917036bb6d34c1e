// Child process of last-resort.test.ts (not a test file itself): a process with the last line of
// defence installed (processor/last-resort.ts, at most 5 lines a second for this test), logging
// with pino to stdout as the gateway does. It meets, in order:
// 1. an uncaught exception thrown by postgres.js from its own callback: the TypeError that
//    postgres.js 3.4.9 unpatched throws from a setImmediate (its stack as a run with the patch
//    reversed printed it; after the patch no known path throws it, so it is rethrown here);
// 2. 100 unhandled rejections;
// then waits for the log window to end and says it is alive, and finally
// 3. throws an error of its own from a callback: it must exit with code 1 after a fatal line.

import pino from 'pino';
import { installLastResort } from '../processor/last-resort.ts';

const say = (j: object) => process.stdout.write(`${JSON.stringify(j)}\n`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const guard = installLastResort(pino({ level: 'info' }), { lines_max: 5, window_ms: 1_000 });

const from_postgres_js = new TypeError("Cannot read properties of null (reading 'write')");
from_postgres_js.stack = [
  "TypeError: Cannot read properties of null (reading 'write')",
  '    at Immediate.nextWrite (file:///srv/pocketgate/node_modules/postgres/src/connection.js:255:22)',
  '    at process.processImmediate (node:internal/timers:483:21)',
].join('\n');
setImmediate(() => {
  throw from_postgres_js;
});
await sleep(20);
say({ step: 'postgres.js exception survived', survived: guard.survived });

for (let i = 0; i < 100; i++) void Promise.reject(new Error(`rejection ${i}`));
await sleep(20);
say({ step: 'rejections survived', survived: guard.survived });

await sleep(1_200); // past the window: the line counting what was left out comes out
say({ step: 'alive', survived: guard.survived });

setImmediate(() => {
  throw new Error('an error of our own, thrown from a callback');
});
// The process exits from the handler; if it did not, this says so.
await sleep(2_000);
say({ step: 'still running after our own uncaught exception' });
