// Approvals and declines per second as an SVG bar chart, drawn here: no chart library needed for
// sixty pairs of bars. The figure's text alternative says what it shows.

const ns = 'http://www.w3.org/2000/svg';

function rect(x, y, width, height, cls) {
  const r = document.createElementNS(ns, 'rect');
  for (const [k, v] of Object.entries({ x, y, width, height, class: cls })) r.setAttribute(k, String(v));
  return r;
}

/** per_second: [{at, approved, declined}], oldest first. */
export function trafficChart(svg, per_second) {
  const width = 600;
  const height = 140;
  const max = Math.max(1, ...per_second.map((p) => p.approved + p.declined));
  const step = width / Math.max(1, per_second.length);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.replaceChildren();
  per_second.forEach((p, i) => {
    const a = (p.approved / max) * (height - 4);
    const d = (p.declined / max) * (height - 4);
    if (a > 0) svg.append(rect(i * step + 1, height - a, step - 2, a, 'bar-approved'));
    if (d > 0) svg.append(rect(i * step + 1, height - a - d, step - 2, d, 'bar-declined'));
  });
  const last = per_second.slice(-10);
  const sum = (k) => last.reduce((n, p) => n + p[k], 0);
  svg.setAttribute('aria-label', `Last ${per_second.length} seconds: ${per_second.reduce((n, p) => n + p.approved, 0)} approved, ${per_second.reduce((n, p) => n + p.declined, 0)} declined; last 10 seconds ${sum('approved')} approved, ${sum('declined')} declined. Peak ${max} per second.`);
}

/**
 * The chart when the figures could not be read: empty, and said so. The last minute read, left
 * drawn beside tiles showing "—", passed for the current one, to a screen reader word for word
 * (a black-box probe, 2026-12-07).
 */
export function trafficUnavailable(svg) {
  svg.replaceChildren();
  svg.setAttribute('aria-label', 'No current figures: the traffic could not be read');
}
