// What the operations commands (reconcile, rebuild) share: connecting within a bound, a progress
// bar on stderr (stdout stays what scripts parse), and exit codes.

import cliProgress from 'cli-progress';
import { closeRedis, connectPostgres, connectRedis, redactUrl, type RedisClient, type Sql } from '../stores.ts';
import { within } from '../in-flight.ts';

/** 2: the command could not run (a store unreachable, bad arguments, the wait ran out). */
export const exit_could_not_run = 2;

const connect_timeout_ms = 5_000;

/** Redis and PostgreSQL, each answering within connect_timeout_ms, or an error saying which did not. */
export async function connectStores(redis_url: string, database_url: string): Promise<{ redis: RedisClient; sql: Sql }> {
  const sql = connectPostgres(database_url, 4);
  const connecting = connectRedis(redis_url);
  try {
    const redis = await within(connecting, connect_timeout_ms, () => new Error(`Redis at ${redactUrl(redis_url)} did not answer within ${connect_timeout_ms / 1000} s`));
    await sql`select 1`.catch((err: unknown) => {
      throw new Error(`PostgreSQL at ${redactUrl(database_url)} cannot be read: ${(err as Error).message}`);
    });
    return { redis, sql };
  } catch (err) {
    // A connection that comes up after all must not keep the process alive.
    connecting.then((r) => r.destroy(), () => {});
    await sql.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
}

type CommandOptions = Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;

/**
 * The command's arguments with those npm took for itself put back. Without `--`, `npm run
 * rebuild --force` gives the script no argument but npm_config_force=true, and `npm run
 * reconcile --business bus_1` gives it npm_config_business=true and a lone `bus_1`: both
 * spellings mean the same here. With more than one option's value left lone, which is which
 * cannot be told: an error that says to write `--` instead.
 */
export function commandArgs(options: CommandOptions, argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.npm_lifecycle_event === undefined) return [...argv];
  const args = [...argv];
  const lone: string[] = [];
  for (const [name, option] of Object.entries(options)) {
    const taken = env[`npm_config_${name.replaceAll('-', '_')}`];
    if (taken === undefined || args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) continue;
    if (option.type === 'boolean') {
      if (taken === 'true') args.push(`--${name}`);
    } else if (taken === 'true') lone.push(name);
    else args.push(`--${name}=${taken}`);
  }
  if (lone.length === 0) return args;
  // The arguments that are no option's value: `--business bus_1` keeps its bus_1.
  const written: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) values.push(a);
    else if (options[a.slice(2)]?.type === 'string' && i + 1 < args.length) written.push(a, args[++i]!);
    else written.push(a);
  }
  if (lone.length > 1 || values.length !== 1) throw new Error(`npm took ${lone.map((n) => `--${n}`).join(' and ')} for itself: write \`npm run ${env.npm_lifecycle_event} -- ${lone.map((n) => `--${n} <value>`).join(' ')}\``);
  return [...written, `--${lone[0]}=${values[0]}`];
}

export async function closeStores(stores: { redis: RedisClient; sql: Sql }): Promise<void> {
  await closeRedis(stores.redis);
  await stores.sql.end({ timeout: 5 }).catch(() => {});
}


export interface Progress {
  start(total: number, label: string): void;
  update(done: number): void;
  stop(): void;
}

/**
 * cli-progress's time, but '-' for an eta it could not estimate ('NULL': no progress yet, an
 * empty phase), which its padding printed as "LLs" (a black-box probe of `npm run rebuild`).
 */
const etaText: cliProgress.TimeFormatter = (t, options, round) => (typeof t === 'number' && Number.isFinite(t) ? cliProgress.Format.TimeFormat(t, options, round) : '-');

/**
 * A progress bar on stderr. On a terminal it is redrawn in place; elsewhere (a pipe, a file) only
 * when `lines_off_terminal`: a line at each phase's start, every 2 s, and at its end.
 */
export function progressBar(lines_off_terminal = false, stream: NodeJS.WritableStream = process.stderr): Progress {
  const bar = new cliProgress.SingleBar(
    { stream, format: '{label} [{bar}] {value}/{total} ({percentage}%) eta {eta_formatted}', hideCursor: true, clearOnComplete: false, noTTYOutput: lines_off_terminal, formatTime: etaText },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  return {
    start(total, label) {
      if (running) bar.stop();
      bar.start(total, 0, { label });
      running = true;
    },
    update(done) {
      if (running) bar.update(done);
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
