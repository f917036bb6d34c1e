// A tiny element builder: text always goes in as text (never parsed as HTML), so nothing a
// reply or a contact's name holds can become markup or script.

/** h('td', {class: 'num'}, '13.12'): attributes starting with "on" take functions as listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A labelled control: the label names the control for assistive technology. */
let field_seq = 0;
export function field(label, control) {
  const id = control.id || `f${++field_seq}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A table with a caption, header cells and rows of cells ({text, num} or plain values). */
export function table(caption, headers, rows) {
  return h('div', { class: 'scroll' }, h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', class: x.num ? 'num' : null }, x.text ?? x)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => (c instanceof Node ? h('td', {}, c) : h('td', { class: c?.num ? 'num' : null }, c?.text ?? c ?? '')))))),
  ));
}
