// The console's shell: sign-in with the admin key (kept in this tab's session storage only), the
// pages behind hash routes, and signing out when the key is refused.

import { api, onUnauthorized, session } from './api.js';
import { formatAmount, viewer_zone } from './format.js';
import * as dashboard from './dashboard.js';
import * as contacts from './contacts.js';
import * as terminal from './terminal.js';
import * as offers from './offers.js';
import * as settlements from './settlements.js';

const pages = { dashboard, contacts, terminal, offers, settlements };
const $ = (id) => document.getElementById(id);

let context;
let cleanup = () => {};

function contextFor(business) {
  return { business, money: (minor) => formatAmount(minor, business.currency, business.minor_units) };
}

async function signIn(key) {
  // A header carries Latin-1 alone: fetch would throw, told as "could not be reached". No key is such.
  if (!/^[\x21-\x7e]+$/.test(key)) return 'That key was refused: use the business’s admin key.';
  const r = await api('GET', '/v1/business', undefined, {}, key);
  if (r.status !== 200) return r.status === 401 || r.status === 403 ? 'That key was refused: use the business’s admin key.' : `The gateway answered ${r.status}: ${r.body?.detail ?? r.text}`;
  session.key = key;
  context = contextFor(r.body);
  return null;
}

function signOut(message = '') {
  cleanup();
  cleanup = () => {};
  session.clear();
  context = undefined;
  $('top').hidden = true;
  // Hidden is not gone: the contact, the replies and what was typed (a card number) would stay in
  // the page for whoever uses the tab next.
  $('page').hidden = true;
  $('page').replaceChildren();
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message;
  $('admin-key').value = '';
  $('admin-key').focus();
}

/** Draws the page the hash names; `focus`: keyboard focus to its heading (after signing in). */
function show(focus = false) {
  if (context === undefined) return;
  const name = location.hash.replace(/^#\//, '') || 'dashboard';
  const page = pages[name] ?? pages.dashboard;
  cleanup();
  $('sign-in').hidden = true;
  $('top').hidden = false;
  $('business-name').textContent = `${context.business.name} · ${context.business.currency} · times in ${viewer_zone}`;
  for (const a of document.querySelectorAll('.top nav a')) {
    if (a.dataset.page === (pages[name] ? name : 'dashboard')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const container = $('page');
  container.hidden = false;
  container.replaceChildren();
  cleanup = page.render(container, context) ?? (() => {});
  // The sign-in form is hidden under the focus: left there, it fell to <body> and a keyboard user
  // started again at the top of the document, not at the page (a black-box probe of the console).
  if (focus) focusHeading(container);
}

function focusHeading(container) {
  const heading = container.querySelector('h1');
  if (heading === null) return;
  heading.tabIndex = -1;
  heading.focus();
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('admin-key').value.trim();
  $('sign-in-error').textContent = '';
  signIn(key).then((error) => {
    if (error !== null) $('sign-in-error').textContent = error;
    else {
      // Kept in session storage alone, not in a hidden field for the tab's next reader.
      $('admin-key').value = '';
      show(true);
    }
  }, (err) => {
    $('sign-in-error').textContent = `The gateway could not be reached: ${err.message}`;
  });
});
$('sign-out').addEventListener('click', () => signOut());
onUnauthorized(() => signOut('The gateway refused the key: sign in again.'));
window.addEventListener('hashchange', () => show());

// A tab that signed in before (a reload) signs in again with the key it kept.
if (session.key !== null) {
  signIn(session.key).then((error) => (error === null ? show(true) : signOut(error)), (err) => signOut(`The gateway could not be reached: ${err.message}`));
}
