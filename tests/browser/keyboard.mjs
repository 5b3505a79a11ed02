// Everything from the keyboard alone: Tab, Shift+Tab, Enter, arrow keys and typing; no
// mouse, no clicks, no filling fields by script. The skip link works, and every element
// that takes focus on the way shows it (a visible outline) and is on screen.

import { BASE_URL, DATA, USERS, assert, assertEqual, fail, guardedContext, log, main } from './lib.mjs';

const { confirm, reroute, reply } = DATA.keyboard;
const MAX_TABS = 250;
let focusChecks = 0;

/** What has focus, and whether it shows it. */
async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { none: true };
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    const shadow = style.boxShadow && style.boxShadow !== 'none';
    const inView = rect.width > 0 && rect.height > 0 && rect.bottom > 0 && rect.right > 0 &&
      rect.top < window.innerHeight && rect.left < window.innerWidth;
    return {
      none: false,
      tag: el.tagName.toLowerCase(),
      id: el.id,
      href: el.getAttribute('href'),
      text: (el.innerText || el.value || '').trim().slice(0, 60),
      visible: (outline || shadow) && inView,
      style: `${style.outlineStyle} ${style.outlineWidth} ${style.boxShadow}`,
      inMain: !!el.closest('main'),
      form: el.form ? el.form.id : null,
    };
  });
}

function describe(f) {
  return f.none ? '(nothing)' : `<${f.tag}${f.id ? ` id=${f.id}` : ''}${f.href ? ` href=${f.href}` : ''}> "${f.text}"`;
}

/** Presses Tab (or Shift+Tab) until `matches(focused)`; checks the focus is visible at every step. */
async function tabTo(page, matches, what, { back = false } = {}) {
  for (let i = 0; i < MAX_TABS; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (f.none) continue;
    focusChecks += 1;
    assert(f.visible, `focus is not visible on ${describe(f)} (${f.style}) at ${page.url()}`);
    if (matches(f)) return f;
  }
  fail(`could not reach ${what} with ${back ? 'Shift+Tab' : 'Tab'} on ${page.url()}`);
}

/** Presses Enter and waits for the page it leads to. */
async function enterAndWait(page, url) {
  await Promise.all([page.waitForURL(url), page.keyboard.press('Enter')]);
  await page.waitForLoadState('load');
}

async function openCaseFromQueue(page, number) {
  await page.goto(`${BASE_URL}/`);
  await tabTo(page, (f) => f.tag === 'a' && f.href === `/cases/${number}`, `the queue's link to ${number}`);
  await enterAndWait(page, `${BASE_URL}/cases/${number}`);
}

async function flashShown(page, done) {
  assert(new URL(page.url()).search === `?done=${done}`, `not back with done=${done}: ${page.url()}`);
  assertEqual(await page.locator('#error').count(), 0, 'error messages');
  assertEqual(await page.locator('p#flash[role=status]').count(), 1, `flash after ${done}`);
}

await main(async (browser) => {
  const { context, guard } = await guardedContext(browser);
  const page = await context.newPage();

  // Log in: the skip link first, then the form.
  await page.goto(`${BASE_URL}/login`);
  const skip = await tabTo(page, () => true, 'the first focusable element');
  assertEqual(skip.href, '#main', 'the first Tab stop is the skip link');
  assertEqual(skip.inMain, false, 'skip link position');
  await page.keyboard.press('Enter');
  assert(page.url().endsWith('#main'), 'the skip link did not go to #main');
  const username = await tabTo(page, () => true, 'the first field after the skip link');
  assertEqual(username.id, 'username', 'after the skip link, Tab reaches the first field of the page');
  await page.keyboard.type(USERS.admin.user);
  await page.keyboard.press('Tab');
  assertEqual((await focused(page)).id, 'password', 'Tab from the user name');
  await page.keyboard.type(USERS.admin.password);
  await enterAndWait(page, `${BASE_URL}/`);
  assert(await page.locator('table#queue').isVisible(), 'no queue after logging in from the keyboard');
  log('logged in from the keyboard');

  // The skip link on a signed-in page jumps over the menu.
  const skip2 = await tabTo(page, () => true, 'the skip link of the queue');
  assertEqual(skip2.href, '#main', 'first Tab stop of the queue');
  await page.keyboard.press('Enter');
  const first = await tabTo(page, () => true, 'the first element in main');
  assert(first.inMain, `after the skip link Tab went to ${describe(first)}, outside main`);
  log('skip link works');

  // Confirm.
  await openCaseFromQueue(page, confirm);
  const statusBefore = await page.innerText('#case-status');
  await tabTo(page, (f) => f.tag === 'button' && f.form === 'confirm', 'the confirm button');
  await enterAndWait(page, /\?done=confirm$/);
  await flashShown(page, 'confirm');
  assert((await page.innerText('#case-status')) !== statusBefore, 'status unchanged after confirming');
  log('confirmed', confirm);

  // Reroute: choose another department with the arrow keys, type a reason.
  await openCaseFromQueue(page, reroute);
  const from = (await page.innerText('#case-department')).trim();
  await tabTo(page, (f) => f.id === 'reroute-department', 'the department list');
  const original = await page.inputValue('#reroute-department');
  await page.keyboard.press('ArrowDown');
  if ((await page.inputValue('#reroute-department')) === original) await page.keyboard.press('ArrowUp');
  const chosen = await page.inputValue('#reroute-department');
  assert(chosen !== original, 'the arrow keys did not change the department');
  const chosenName = (await page.locator(`#reroute-department option[value="${chosen}"]`).innerText()).trim();
  await page.keyboard.press('Tab');
  assertEqual((await focused(page)).id, 'reroute-reason', 'Tab from the department list');
  await page.keyboard.type('Fel förvaltning, rättat med tangentbordet');
  await page.keyboard.press('Tab');
  const button = await focused(page);
  assert(button.tag === 'button' && button.form === 'reroute', `Tab from the reason reached ${describe(button)}`);
  assert(button.visible, 'focus not visible on the reroute button');
  await enterAndWait(page, /\?done=reroute$/);
  await flashShown(page, 'reroute');
  assertEqual((await page.innerText('#case-department')).trim(), chosenName, 'department after rerouting');
  assert(chosenName !== from, 'rerouted to the same department');
  log('rerouted', reroute, `${from} -> ${chosenName}`);

  // Reply: take a suggestion with Enter, go back into the field with Shift+Tab, add a line, send.
  await openCaseFromQueue(page, reply);
  await tabTo(page, (f) => f.tag === 'a' && (f.href || '').endsWith('?use=1#reply-body'), 'the first suggestion link');
  await enterAndWait(page, /\?use=1#reply-body$/);
  const prefilled = await page.inputValue('#reply-body');
  assert(prefilled.length > 20, 'the suggestion did not fill the reply');
  // The fragment puts the keyboard at the reply field: Tab reaches the send button, Shift+Tab the field.
  const send = await tabTo(page, (f) => f.form === 'reply', 'the reply form');
  let field = send;
  if (send.id !== 'reply-body') field = await tabTo(page, (f) => f.id === 'reply-body', 'the reply field', { back: true });
  assertEqual(field.id, 'reply-body', 'focus in the reply field');
  await page.keyboard.press('Control+End');
  const marker = 'Tillagt från tangentbordet: välkommen förbi!';
  await page.keyboard.type(`\n${marker}`);
  assert((await page.inputValue('#reply-body')).endsWith(marker), 'typing did not reach the reply field');
  await page.keyboard.press('Tab');
  const sendButton = await focused(page);
  assert(sendButton.tag === 'button' && sendButton.form === 'reply' && sendButton.visible, `Tab from the reply reached ${describe(sendButton)}`);
  await enterAndWait(page, /\?done=reply$/);
  await flashShown(page, 'reply');
  assertEqual(await page.locator('ol.thread > li.outgoing', { hasText: marker }).count(), 1, 'the sent reply in the thread');
  log('replied to', reply, `(${focusChecks} focus stops checked)`);
  guard.check();
});
