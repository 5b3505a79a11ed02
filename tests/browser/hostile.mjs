// Hostile mail never runs in the panel. The corpus (tests/browser/hostile/*.eml) tries
// alert(), document.title = 'PWNED', window.name = 'PWNED', fetch() to other hosts, remote
// images, CSS beacons and overlays, meta refresh, <base>, frames and forms. On the queue,
// every hostile case page, every HTML view and the search results this test asserts that
// no dialog opened, nothing was logged to the console, no trap fired, nothing was requested
// from another host, every response carried the strict Content-Security-Policy, no active
// or remote-loading markup reached the DOM, and attachments download as attachments under
// sanitised names.

import { BASE_URL, DATA, USERS, assert, assertEqual, fail, guardedContext, log, logIn, main, strictCsp } from './lib.mjs';

// The trap, installed before any page script runs: it records calls to fetch and
// XMLHttpRequest, Content-Security-Policy violations, and changes of the title.
const TRAP = () => {
  const hits = [];
  Object.defineProperty(window, '__brevduvaTrap', { value: hits });
  const record = (what) => hits.push(String(what).slice(0, 200));
  const realFetch = window.fetch;
  window.fetch = function (...args) {
    record(`fetch ${args[0]}`);
    return realFetch.apply(this, args);
  };
  const realOpen = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (...args) {
    record(`xhr ${args[1]}`);
    return realOpen.apply(this, args);
  };
  const realWindowOpen = window.open;
  window.open = function (...args) {
    record(`window.open ${args[0]}`);
    return realWindowOpen ? null : null;
  };
  document.addEventListener('securitypolicyviolation', (e) => record(`csp ${e.violatedDirective} ${e.blockedURI}`), true);
  document.addEventListener('DOMContentLoaded', () => {
    const title = document.title;
    new MutationObserver(() => {
      if (document.title !== title) record(`title ${document.title}`);
    }).observe(document.head, { subtree: true, childList: true, characterData: true });
  });
};

// What must not be in a page once it is rendered (the panel's own script tag aside).
const DOM_CHECK = () => {
  const problems = [];
  const scripts = [...document.scripts].map((s) => s.getAttribute('src'));
  if (scripts.length !== 1 || scripts[0] !== '/assets/panel.js') problems.push(`scripts: ${JSON.stringify(scripts)}`);
  for (const sel of ['iframe', 'frame', 'frameset', 'object', 'embed', 'base', 'img', 'video', 'audio', 'picture', 'source', 'portal', 'math', 'template', 'noscript', 'style', 'input[type=image]', 'meta[http-equiv]', 'link:not([rel=stylesheet][href="/assets/panel.css"])', 'body svg:not(.chart)']) {
    const n = document.querySelectorAll(sel).length;
    if (n) problems.push(`${n} × ${sel}`);
  }
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) problems.push(`<${el.tagName} ${name}>`);
      if (name === 'style' || name === 'srcdoc' || name === 'formaction' || name === 'background' || name === 'poster' || name === 'srcset') problems.push(`<${el.tagName} ${name}=${a.value.slice(0, 60)}>`);
      if (/^(href|src|action|xlink:href|data)$/.test(name)) {
        const v = a.value.trim().toLowerCase();
        if (/^(javascript|vbscript|data):/.test(v.replace(/[\s\u0000-\u001f]/g, ''))) problems.push(`<${el.tagName} ${name}=${a.value.slice(0, 60)}>`);
      }
    }
    if (getComputedStyle(el).position === 'fixed') problems.push(`position:fixed on <${el.tagName}>`);
  }
  for (const form of document.forms) {
    const action = form.getAttribute('action') || '';
    if (!action.startsWith('/')) problems.push(`form to ${action}`);
  }
  for (const a of document.querySelectorAll('.mail-html a[href]')) {
    if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) problems.push(`mail link ${a.getAttribute('href')}`);
    if (!/noopener/.test(a.getAttribute('rel') || '')) problems.push(`mail link without rel=noopener: ${a.getAttribute('href')}`);
  }
  const main = document.querySelector('main');
  if (!main || main.getBoundingClientRect().height === 0 || getComputedStyle(main).display === 'none') problems.push('main is hidden');
  return problems;
};

await main(async (browser) => {
  const { context, guard } = await guardedContext(browser);
  await context.addInitScript(TRAP);
  const page = await context.newPage();
  const dialogs = [];
  const consoleMessages = [];
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
  const navigations = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));
  const warnings = [];

  await logIn(page, USERS.admin);
  let pages = 0;

  /** Opens a page and checks that nothing hostile happened on it. */
  async function visit(path, { expectStatus = 200 } = {}) {
    navigations.length = 0;
    const url = new URL(`${BASE_URL}${path}`).href;
    const response = await page.goto(url);
    assertEqual(response.status(), expectStatus, `status of ${path}`);
    assert(strictCsp(response.headers()['content-security-policy'] || ''), `no strict CSP on ${path}`);
    // Give timers, meta refresh, lazy images and handlers a moment; hover over the mail.
    const spots = await page.evaluate(() =>
      [...document.querySelectorAll('.mail-html *, pre.mail, ol.thread h3, table#queue td:nth-child(2), table#results td:nth-child(2)')]
        .slice(0, 80)
        .map((el) => el.getBoundingClientRect())
        .filter((r) => r.width > 0 && r.height > 0)
        .map((r) => [r.left + r.width / 2, r.top + r.height / 2 + window.scrollY]),
    );
    for (const [x, y] of spots) {
      await page.evaluate((top) => window.scrollTo(0, Math.max(0, top - 200)), y);
      const scroll = await page.evaluate(() => window.scrollY);
      await page.mouse.move(x, y - scroll);
    }
    await page.waitForTimeout(250);
    pages += 1;
    const where = `on ${path}`;
    assertEqual(page.url(), url, `the page navigated away ${where}`);
    assert(navigations.every((u) => u === url), `navigations ${where}: ${navigations.join(', ')}`);
    assert(dialogs.length === 0, `dialogs ${where}: ${dialogs.join(' | ')}`);
    assert(consoleMessages.length === 0, `console messages ${where}:\n  ${consoleMessages.join('\n  ')}`);
    const trap = await page.evaluate(() => window.__brevduvaTrap);
    assert(trap.length === 0, `the trap fired ${where}: ${trap.join(' | ')}`);
    assertEqual(await page.evaluate(() => window.name), '', `window.name ${where}`);
    const title = await page.title();
    assert(/ – Brevduva$/.test(title) && !title.includes('PWNED'), `title ${where}: ${title}`);
    const problems = await page.evaluate(DOM_CHECK);
    assert(problems.length === 0, `hostile markup ${where}:\n  ${problems.join('\n  ')}`);
    guard.check();
    return response;
  }

  // The queue with every hostile subject and sender.
  await visit('/');
  await visit('/?status=all');
  const queueText = await page.innerText('table#queue');
  assert(queueText.includes("<script>alert('PWNED-subject')</script>"), 'the hostile subject is not shown as text in the queue');

  // Every hostile case, and the HTML view of each message that has one.
  let htmlViews = 0;
  for (const number of DATA.hostile_cases) {
    await visit(`/cases/${number}`);
    const htmlLinks = await page.locator('ol.thread a[href*="?html="]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    for (const href of htmlLinks) {
      await visit(href.replace(/#.*$/, ''));
      if ((await page.locator('.mail-html').count()) === 0) {
        warnings.push(`${href}: the page offers an HTML view but shows none (the message's only HTML is an attachment?)`);
      } else {
        htmlViews += 1;
      }
    }
  }
  assert(htmlViews >= 8, `only ${htmlViews} HTML views of hostile mail were shown`);
  log(`${DATA.hostile_cases.length} hostile cases and ${htmlViews} HTML views checked`);

  // The subject shown as text, never as markup.
  await visit(`/cases/${DATA.hostile_subject_case}`);
  const heading = await page.innerText('main h1');
  assert(heading.includes("<script>alert('PWNED-subject')</script>"), `the subject is not shown as text: ${heading}`);
  const sender = await page.innerText('ol.thread');
  assert(sender.includes("alert('PWNED-text')"), 'the hostile text is not shown as text');

  // Search, with hostile results and a hostile query.
  await visit('/search?q=Fientlig');
  const results = await page.locator('table#results tbody a[href^="/cases/"]').count();
  assert(results >= DATA.hostile_cases.length - 1, `search found only ${results} hostile cases`);
  await visit(`/search?q=${encodeURIComponent(`"><script>alert('PWNED-q')</script><img src=x onerror=alert(1)>`)}`);
  assertEqual(await page.inputValue('#q'), `"><script>alert('PWNED-q')</script><img src=x onerror=alert(1)>`, 'the query kept as text');
  await visit(`/rules?text=${encodeURIComponent(`<script>alert('PWNED-rules')</script>`)}&recipient=x%40example.com`);
  await visit(`/cases/${DATA.hostile_subject_case}?done=%3Cscript%3Ealert(1)%3C/script%3E&error=%22%3E%3Cimg%20src=x%3E`);
  assertEqual(await page.locator('#flash, #error').count(), 0, 'notices from an unknown query');
  log('queue, search and notices checked');

  // Attachments: downloads with Content-Disposition: attachment and a sanitised name.
  await visit(`/cases/${DATA.attachment_case}`);
  const links = page.locator('ol.thread ul a[href*="/attachments/"]');
  const count = await links.count();
  assert(count >= 7, `only ${count} attachment links`);
  const names = [];
  for (let i = 0; i < count; i++) {
    const href = await links.nth(i).getAttribute('href');
    assertEqual(await links.nth(i).getAttribute('download'), '', `download attribute on ${href}`);
    const shown = await links.nth(i).innerText();
    if (/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/.test(shown)) warnings.push(`attachment ${href} is shown with a bidi control in its name: ${JSON.stringify(shown)}`);
    const response = await page.request.get(`${BASE_URL}${href}`);
    assertEqual(response.status(), 200, `status of ${href}`);
    const headers = response.headers();
    assert(strictCsp(headers['content-security-policy'] || ''), `no strict CSP on ${href}`);
    assertEqual(headers['content-type'], 'application/octet-stream', `content type of ${href}`);
    assertEqual(headers['x-content-type-options'], 'nosniff', `nosniff on ${href}`);
    const disposition = headers['content-disposition'] || '';
    const m = /^attachment; filename="([^"]*)"; filename\*=UTF-8''(\S+)$/.exec(disposition);
    assert(m, `Content-Disposition of ${href}: ${JSON.stringify(disposition)}`);
    const ascii = m[1];
    const utf8 = decodeURIComponent(m[2]);
    for (const name of [ascii, utf8]) {
      assert(name.length > 0 && name.length <= 120, `name length of ${href}: ${JSON.stringify(name)}`);
      assert(!/[\/\\"\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069\u200e\u200f]/.test(name), `unsafe character in the name of ${href}: ${JSON.stringify(name)}`);
      assert(!name.startsWith('.') && !name.includes('..'), `dot name of ${href}: ${JSON.stringify(name)}`);
    }
    assert(/^[\x20-\x7e]*$/.test(ascii), `non-ASCII in filename= of ${href}: ${JSON.stringify(ascii)}`);
    names.push(utf8);
  }
  assert(names.includes('passwd'), `path traversal name not reduced to passwd: ${JSON.stringify(names)}`);
  assert(names.includes('fakturafdp.exe'), `RLO name not cleaned: ${JSON.stringify(names)}`);
  assert(names.includes('evil.bat'), `Windows path not reduced: ${JSON.stringify(names)}`);
  log('attachment names:', JSON.stringify(names));

  // A real download from the keyboard (the link to the HTML attachment): saved, never shown.
  const htmlLink = links.filter({ hasText: '.html' }).first();
  await htmlLink.focus();
  const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  const suggested = download.suggestedFilename();
  assert(!/[\/\\"\u202e\r\n]/.test(suggested), `unsafe download name: ${JSON.stringify(suggested)}`);
  assertEqual(page.url(), `${BASE_URL}/cases/${DATA.attachment_case}`, 'the page after downloading');
  await download.delete();
  await page.waitForTimeout(200);
  assert(dialogs.length === 0 && consoleMessages.length === 0, `after the download: ${dialogs.concat(consoleMessages).join(' | ')}`);
  log('downloaded', JSON.stringify(suggested));

  guard.check();
  log(`${pages} pages checked, ${guard.responses} panel responses carried the strict CSP, no request left 127.0.0.1`);
  for (const w of warnings) console.log(`WARNING (product bug, see the report): ${w}`);
  if (dialogs.length) fail(`dialogs: ${dialogs.join(' | ')}`);
});
