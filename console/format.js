// Money in the business's currency with its minor units (1312 EUR, 2 minor units: 13.12 EUR),
// exactly (integer arithmetic, never floats), and times in the viewer's own time zone.

const decimal_separator = (1.5).toLocaleString().charAt(1);
const grouping = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function formatAmount(minor, currency, minor_units) {
  if (minor === null || minor === undefined) return '—';
  const negative = minor < 0;
  const abs = BigInt(Math.abs(minor));
  const scale = 10n ** BigInt(minor_units);
  const whole = grouping.format(abs / scale);
  const fraction = minor_units > 0 ? decimal_separator + String(abs % scale).padStart(minor_units, '0') : '';
  return `${negative ? '−' : ''}${whole}${fraction} ${currency}`;
}

/** What an amount field shows before it is filled: "0.00" with 2 minor units, "0" with none. */
export function amountPlaceholder(minor_units) {
  return minor_units > 0 ? `0${decimal_separator}${'0'.repeat(minor_units)}` : '0';
}

/** "13.12" (or "13,12") → 1312 with 2 minor units; null for anything that is not such an amount. */
export function parseAmount(text, minor_units) {
  const m = /^\s*(\d{1,12})(?:[.,](\d*))?\s*$/.exec(String(text));
  if (m === null) return null;
  const fraction = m[2] ?? '';
  if (fraction.length > minor_units) return null;
  return Number(m[1]) * 10 ** minor_units + Number(fraction.padEnd(minor_units, '0') || '0');
}

const time_format = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

export function formatTime(iso) {
  if (!iso) return '—';
  return time_format.format(new Date(iso));
}

export const viewer_zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Midnight of the viewer's today, as RFC 3339 UTC. */
export function startOfToday(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
}

/** A date input's value (YYYY-MM-DD, the viewer's calendar) as the UTC instant its day starts. */
export function dayStart(date_text) {
  const [y, mo, d] = date_text.split('-').map(Number);
  return new Date(y, mo - 1, d).toISOString();
}

export function dateInputValue(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

/**
 * The commerce balance by pool, adding up to it: the named pools, then what is in none (the API
 * lists named pools alone; without the row the table did not add up to the balance: a probe).
 */
export function poolRows(wallet) {
  const rows = wallet.pools.map((p) => [p.pool, p.amount]);
  const in_none = wallet.commerce - wallet.pools.reduce((sum, p) => sum + p.amount, 0);
  if (in_none !== 0) rows.push(['(no pool)', in_none]);
  return rows;
}
