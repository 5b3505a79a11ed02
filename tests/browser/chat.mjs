// The citizen chat in headless Chromium: ask, answer with its source, a follow-up topic,
// "not sure" with the closest topics, the handoff to Kontaktcenter with a case number (by
// mouse and by keyboard alone); replies inside the aria-live region; urgent matters first
// in four languages; sensitive and unapproved entries never shown; axe-core (WCAG 2.1 A/AA)
// in four languages, light and dark, desktop and phone, before and after a conversation;
// no cookies, nothing loaded from outside 127.0.0.1, a CSP on every response; the language
// switch and right-to-left Arabic; the embed script on another origin's page.
//
// Run by tests/integration/chat_browser.rs, which passes in BREVDUVA_TEST_DATA:
//   host_url        the municipality's page (another port) that includes /chat/embed.js
//   emails          { mouse, keyboard }: the addresses of the two handoffs
//   titles          { id: subject } of the approved entries the script expects as sources
//   secrets         texts of sensitive and unapproved entries, which must never be shown
//   secret_ids      their ids (never a source or a suggested topic)
// It prints one line `handoff <email> <case number>` per handoff for the Rust side.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { BASE_URL, DATA, ORIGIN, assert, assertEqual, fail, log, main, strictCsp } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const HOST_ORIGIN = new URL(DATA.host_url).origin;
const ALLOWED_HOSTS = new Set([new URL(ORIGIN).host, new URL(HOST_ORIGIN).host]);
const LANGUAGES = ['sv', 'en', 'uk', 'ar'];
const PHONE = { viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** What the conversation asks in each language, and what it expects. */
const ASK = {
  sv: {
    answer: 'När töms soptunnan hos mig?',
    source: 'sophamtning',
    notSure: 'Kan jag hyra kommunens festlokal i Folkets park till ett bröllop i juni?',
    handoffOffer: 'Skicka frågan till Kontaktcenter',
  },
  en: {
    answer: 'When is the bin emptied at my house?',
    source: 'waste-en',
    notSure: 'Can I rent a canoe from the library at the recycling centre?',
    handoffOffer: 'Send the question to Kontaktcenter',
  },
  uk: {
    answer: 'Коли вивозять сміття з мого будинку?',
    source: 'smittia-uk',
    notSure: 'Чи можна орендувати човен у бібліотеці?',
    handoffOffer: 'Надіслати запитання до Kontaktcenter',
  },
  // No Arabic entry exists: the Swedish answer, with a note in Arabic that it is Swedish.
  ar: {
    answer: 'متى تفتح المكتبة يوم السبت؟',
    source: 'bibliotek',
    note: 'السويدية',
    notSure: 'هل يمكنني استئجار قارب من المكتبة؟',
    handoffOffer: 'إرسال السؤال إلى مركز الاتصال',
  },
};

/** Typical urgent messages: [message, the number that must come first]. Some also name a topic the chat knows. */
const URGENT = {
  sv: [
    ['Det brinner i soptunnan utanför huset!', '112'],
    ['Jag vill inte leva längre, när har biblioteket öppet?', '90101'],
    ['Min cykel blev stulen vid biblioteket', '114 14'],
    ['Mitt barn har hög feber, när har simhallen öppet?', '1177'],
  ],
  en: [
    ['The bin outside is on fire!', '112'],
    ['I want to end my life', '90101'],
    ['My bike was stolen at the library', '114 14'],
    ['I have a fever, is the library open?', '1177'],
  ],
  uk: [
    ['У нас пожежа біля сміттєвого контейнера', '112'],
    ['Я думаю про самогубство', '90101'],
    ['У мене вкрали велосипед біля бібліотеки', '114 14'],
    ['Мені потрібен лікар, коли працює бібліотека?', '1177'],
  ],
  ar: [
    ['يوجد حريق في حاوية القمامة', '112'],
    ['أفكر في الانتحار', '90101'],
    ['سرق أحدهم دراجتي قرب المكتبة', '114 14'],
    ['طفلي مريض ولديه حمى', '1177'],
  ],
};
/** The name of the helpline that goes with a number, where the reply must say it. */
const HELPLINE = { 90101: 'Självmordslinjen' };

/** Questions about the sensitive and the unapproved entries: never answered. */
const SENSITIVE_QUESTIONS = [
  'Hur ansöker jag om ekonomiskt bistånd?',
  'Hur ansöker jag om hemtjänst för min mamma?',
  'Hur gör jag en orosanmälan om ett barn?',
  'Jag behöver ekonomiskt bistånd och hemtjänst från socialtjänsten',
  'Behöver jag bygglov för en altan?',
];

// ---------------------------------------------------------------------------------------
// The guarded browser context: only the two local origins, a CSP on every response, no
// cookies, no leaked text, no page errors or CSP violations.

/** Whether a chat page's policy is strict, and lets only itself and the configured site frame it. */
function strictChatCsp(csp) {
  const d = Object.fromEntries(
    csp
      .split(';')
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => {
        const [name, ...values] = x.split(/\s+/);
        return [name.toLowerCase(), values];
      }),
  );
  const unsafe = (values) => (values || []).some((v) => /unsafe-|^\*$|^data:$|^https?:$/.test(v));
  const ancestors = d['frame-ancestors'] || [];
  return (
    (d['default-src'] || []).join(' ') === "'none'" &&
    (d['script-src'] || []).join(' ') === "'self'" &&
    !unsafe(d['style-src']) &&
    !unsafe(d['connect-src']) &&
    (d['base-uri'] || []).join(' ') === "'none'" &&
    (d['form-action'] || []).join(' ') === "'self'" &&
    ancestors.length > 0 &&
    ancestors.every((a) => a === "'self'" || a === HOST_ORIGIN)
  );
}

async function chatContext(browser, options = {}) {
  const context = await browser.newContext({ locale: 'sv-SE', colorScheme: 'light', ...options });
  context.setDefaultTimeout(10000);
  context.setDefaultNavigationTimeout(15000);
  const guard = { foreign: [], csp: [], cookies: [], leaks: [], errors: [], responses: 0 };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let host = '';
    try {
      host = new URL(url).host;
    } catch {
      // not a URL with a host
    }
    if (!ALLOWED_HOSTS.has(host) || !/^https?:$/.test(new URL(url).protocol)) {
      guard.foreign.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  context.on('response', async (response) => {
    const url = response.url();
    guard.responses += 1;
    const headers = await response.allHeaders().catch(() => response.headers());
    const csp = headers['content-security-policy'] || '';
    const path = new URL(url).pathname;
    if (url.startsWith(ORIGIN)) {
      const chatPage = path === '/chat' || path.startsWith('/chat/');
      const ok = chatPage ? strictChatCsp(csp) : strictCsp(csp);
      if (!ok) guard.csp.push(`${response.status()} ${url}: ${csp || '(none)'}`);
    } else if (!csp) {
      guard.csp.push(`${response.status()} ${url}: (none)`);
    }
    if (headers['set-cookie']) guard.cookies.push(`${url}: ${headers['set-cookie']}`);
    if (path.startsWith('/api/chat') && response.request().method() === 'POST') {
      const body = await response.text().catch(() => '');
      if (path === '/api/chat' && response.status() === 200) answered += 1;
      for (const s of DATA.secrets) if (body.includes(s)) guard.leaks.push(`${path} answered with "${s}"`);
      try {
        const reply = JSON.parse(body);
        const ids = [reply.source, ...(reply.suggestions || [])].filter(Boolean).map((t) => t.id);
        for (const id of ids) if (DATA.secret_ids.includes(id)) guard.leaks.push(`${path} offered the entry ${id}`);
      } catch {
        // not JSON: the handler's errors are JSON, so record it
        guard.errors.push(`${path} answered with something other than JSON: ${body.slice(0, 200)}`);
      }
    }
  });
  // Every text ever added to any page is checked for the secrets (not just what is left at the end).
  await context.addInitScript((secrets) => {
    window.__leaks = [];
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`),
    );
    const scan = (text) => {
      for (const s of secrets) if (text && text.includes(s)) window.__leaks.push(s);
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'characterData') scan(r.target.data);
        for (const n of r.addedNodes || []) scan(n.textContent);
      }
    }).observe(document, { childList: true, subtree: true, characterData: true });
  }, DATA.secrets);
  context.on('page', (page) => {
    page.on('pageerror', (e) => guard.errors.push(`${page.url()}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/favicon\.ico/.test(m.location().url || '')) guard.errors.push(`${page.url()}: console: ${m.text()}`);
    });
  });
  /** Checks one page (and its frames) before it is closed: no secret text and no CSP violation, ever. */
  guard.page = async (page) => {
    for (const frame of page.frames()) {
      const seen = await frame.evaluate(() => ({
        watched: Array.isArray(window.__leaks) && Array.isArray(window.__cspViolations),
        leaks: window.__leaks || [],
        csp: window.__cspViolations || [],
        text: document.body ? document.body.innerText : '',
      }));
      assert(seen.watched, `the page watchers did not run in ${frame.url()}`);
      for (const s of seen.leaks) guard.leaks.push(`${frame.url()} showed "${s}"`);
      for (const s of DATA.secrets) if (seen.text.includes(s)) guard.leaks.push(`${frame.url()} shows "${s}"`);
      for (const v of seen.csp) guard.errors.push(`${frame.url()}: CSP violation: ${v}`);
    }
  };
  guard.check = async () => {
    const cookies = await context.cookies();
    assert(cookies.length === 0, `cookies were set: ${JSON.stringify(cookies)}`);
    assert(guard.cookies.length === 0, `responses with Set-Cookie:\n  ${guard.cookies.join('\n  ')}`);
    assert(guard.foreign.length === 0, `requests left 127.0.0.1:\n  ${guard.foreign.join('\n  ')}`);
    assert(guard.csp.length === 0, `responses without a strict Content-Security-Policy:\n  ${guard.csp.join('\n  ')}`);
    assert(guard.leaks.length === 0, `sensitive or unapproved text was shown:\n  ${guard.leaks.join('\n  ')}`);
    assert(guard.errors.length === 0, `errors:\n  ${guard.errors.join('\n  ')}`);
    assert(guard.responses > 0, 'no response was seen');
  };
  return { context, guard };
}

// ---------------------------------------------------------------------------------------
// Asking, from the page's own controls.

/** The replies in the list (bot items), as seen by the reader. */
function botItems(scope) {
  return scope.locator('#messages > li.bot');
}

/** Waits until the list has more than `before` bot items, and returns the newest one, checked to be inside the polite live region. */
async function newReply(scope, before, what) {
  const items = botItems(scope);
  await items.nth(before).waitFor({ state: 'attached', timeout: 8000 }).catch(() => fail(`no reply to ${what}`));
  const item = items.last();
  const live = await item.evaluate((li) => {
    const region = li.closest('[aria-live]');
    return region ? { id: region.id, live: region.getAttribute('aria-live'), tag: li.tagName } : null;
  });
  assert(live && live.id === 'messages' && live.live === 'polite' && live.tag === 'LI',
    `the reply to ${what} is not inside #messages[aria-live=polite]: ${JSON.stringify(live)}`);
  return item;
}

/** Asks with the mouse: fills the field, clicks Send; returns the reply's item. */
async function askWithMouse(scope, question) {
  const before = await botItems(scope).count();
  await scope.locator('#question').fill(question);
  await scope.locator('form#ask button[type=submit]').click();
  return newReply(scope, before, JSON.stringify(question));
}

async function meta(item) {
  return (await item.locator('.meta').allInnerTexts()).map((t) => t.trim());
}

async function topicTitles(item) {
  return (await item.locator('button.topic').allInnerTexts()).map((t) => t.trim());
}

/** An answer from the expected source, its source named on the page. */
async function expectAnswer(item, source, what) {
  const cls = await item.getAttribute('class');
  assert(!/urgent/.test(cls), `${what} got an urgent reply`);
  const shown = await meta(item);
  const title = DATA.titles[source];
  assert(shown.some((m) => m.includes(title)), `${what}: the source "${title}" is not shown (meta: ${JSON.stringify(shown)}; reply: ${await item.innerText()})`);
}

/** An urgent reply: the number first and nothing else (no source, no topics, no handoff). */
async function expectUrgent(item, number, what) {
  assert(/\burgent\b/.test(await item.getAttribute('class')), `${what}: not an urgent reply: ${await item.innerText()}`);
  const text = await item.innerText();
  assert(text.includes(number), `${what}: the reply does not give ${number}: ${text}`);
  if (HELPLINE[number]) assert(text.includes(HELPLINE[number]), `${what}: the reply does not name ${HELPLINE[number]}: ${text}`);
  assertEqual(await item.locator('button, .meta').count(), 0, `${what}: sources, topics or buttons beside the urgent reply`);
}

async function expectNotSure(item, offer, what) {
  const topics = await topicTitles(item);
  assert(topics.length >= 1, `${what}: "not sure" without the closest topics: ${await item.innerText()}`);
  assertEqual(await item.locator('button.secondary', { hasText: offer }).count(), 1, `${what}: the handoff offer`);
  return topics;
}

// ---------------------------------------------------------------------------------------
// axe-core.

async function violations(frame) {
  await frame.evaluate(AXE_SOURCE);
  return frame.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 6).map((n) => `${n.target.join(' ')}: ${n.html.slice(0, 140)}\n          ${(n.failureSummary || '').replace(/\n/g, ' ')}`),
      count: v.nodes.length,
    }));
  }, TAGS);
}

const axeReport = [];
/** Questions the chat answered (HTTP 200 from POST /api/chat), for the Rust side's count of recorded questions. */
let answered = 0;
let axeRuns = 0;

/** axe in light and in dark. */
async function axeBothSchemes(page, frame, name) {
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    const dark = await frame.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);
    assertEqual(dark, colorScheme === 'dark', `colour scheme of ${name}`);
    axeRuns += 1;
    for (const v of await violations(frame)) axeReport.push({ page: `${name}, ${colorScheme}`, ...v });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

// ---------------------------------------------------------------------------------------
// Focus, as in keyboard.mjs.

const MAX_TABS = 80;
let focusChecks = 0;

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
      text: (el.innerText || '').trim().slice(0, 80),
      visible: (outline || shadow) && inView,
      style: `${style.outlineStyle} ${style.outlineWidth} ${style.boxShadow}`,
      form: el.form ? el.form.id : null,
    };
  });
}

function describe(f) {
  return f.none ? '(nothing)' : `<${f.tag}${f.id ? ` id=${f.id}` : ''}> "${f.text}"`;
}

async function tabTo(page, matches, what, { back = false } = {}) {
  for (let i = 0; i < MAX_TABS; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const f = await focused(page);
    if (f.none) continue;
    focusChecks += 1;
    assert(f.visible, `focus is not visible on ${describe(f)} (${f.style})`);
    if (matches(f)) return f;
  }
  fail(`could not reach ${what} with ${back ? 'Shift+Tab' : 'Tab'}`);
}

// ---------------------------------------------------------------------------------------

await main(async (browser) => {
  const handoffs = [];

  // 1. Every language, desktop and phone: axe on the empty page, then a conversation with an
  //    answer, a "not sure" with topics, the handoff form open and the four urgent matters,
  //    then axe again. The same pages check the urgent replies and the Arabic note.
  for (const [device, options] of [['desktop', { viewport: { width: 1280, height: 800 } }], ['phone', PHONE]]) {
    const { context, guard } = await chatContext(browser, options);
    for (const lang of LANGUAGES) {
      const page = await context.newPage();
      const response = await page.goto(`${BASE_URL}/chat?lang=${lang}`);
      assert(response.ok(), `/chat?lang=${lang} answered ${response.status()}`);
      assertEqual(await page.getAttribute('html', 'lang'), lang, `lang of /chat?lang=${lang}`);
      assertEqual(await page.getAttribute('html', 'dir'), lang === 'ar' ? 'rtl' : 'ltr', `dir of /chat?lang=${lang}`);
      const name = `/chat?lang=${lang} (${device})`;
      await axeBothSchemes(page, page.mainFrame(), `${name}, empty`);

      const a = ASK[lang];
      const answer = await askWithMouse(page, a.answer);
      await expectAnswer(answer, a.source, `${lang}: ${a.answer}`);
      if (a.note) {
        const shown = await meta(answer);
        assert(shown.some((m) => m.includes(a.note)), `${lang}: no note that the answer is in Swedish: ${JSON.stringify(shown)}`);
        assertEqual(await answer.evaluate((li) => getComputedStyle(li).direction), 'rtl', 'direction of a reply on the Arabic page');
      }
      const notSure = await askWithMouse(page, a.notSure);
      await expectNotSure(notSure, a.handoffOffer, `${lang}: ${a.notSure}`);
      await notSure.locator('button.secondary').click();
      assert(await page.locator('section#handoff').isVisible(), `${lang}: the handoff form did not open`);
      for (const [message, number] of URGENT[lang]) {
        await expectUrgent(await askWithMouse(page, message), number, `${lang}: ${message}`);
      }
      assert(await page.locator('section#handoff').isVisible(), `${lang}: the handoff form closed`);
      // Reflow (WCAG 1.4.10): nothing wider than the screen, which axe does not check.
      const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      assert(widths[0] <= widths[1], `${name}: the page scrolls sideways (${widths[0]} px wide in ${widths[1]} px)`);
      await axeBothSchemes(page, page.mainFrame(), `${name}, after a conversation (answer, not sure, handoff form, urgent)`);
      await guard.page(page);
      await page.close();
    }
    await guard.check();
    await context.close();
    log(`${device}: four languages asked, answered, urgent replies first, axe run`);
  }

  // 2. With the mouse, in Swedish: answer with source, a follow-up topic, "not sure" with
  //    the closest topics, the sensitive questions, the handoff with a case number.
  {
    const { context, guard } = await chatContext(browser);
    const page = await context.newPage();
    await page.goto(`${BASE_URL}/chat`);
    assertEqual(await page.getAttribute('html', 'lang'), 'sv', 'the default language (Accept-Language sv)');
    const strings = JSON.parse(await page.locator('#chat-strings').textContent());
    const answer = await askWithMouse(page, ASK.sv.answer);
    await expectAnswer(answer, 'sophamtning', 'the first question');
    const followUps = await topicTitles(answer);
    assert(followUps.length >= 1, `no follow-up suggestion under the answer: ${await answer.innerText()}`);
    const before = await botItems(page).count();
    await answer.locator('button.topic').first().click();
    const followUp = await newReply(page, before, `the follow-up "${followUps[0]}"`);
    const source = Object.keys(DATA.titles).find((id) => DATA.titles[id] === followUps[0]);
    assert(source, `the follow-up "${followUps[0]}" is no approved entry's title`);
    await expectAnswer(followUp, source, `the follow-up "${followUps[0]}"`);
    log('mouse: answered with its source, follow-up', followUps[0]);

    for (const question of SENSITIVE_QUESTIONS) {
      const item = await askWithMouse(page, question);
      const text = await item.innerText();
      assert(!(await meta(item)).some((m) => m.startsWith(strings.source)), `"${question}" was answered: ${text}`);
      for (const t of await topicTitles(item)) {
        assert(Object.values(DATA.titles).includes(t), `"${question}" offered the topic "${t}", which is not an approved shared entry`);
      }
    }
    log('mouse: sensitive and unapproved entries not answered');

    const notSure = await askWithMouse(page, ASK.sv.notSure);
    const closest = await expectNotSure(notSure, ASK.sv.handoffOffer, 'the unknown question');
    log('mouse: not sure, closest topics', closest.join(' | '));
    await notSure.locator('button.secondary').click();
    await page.locator('section#handoff').waitFor({ state: 'visible' });
    assertEqual(await page.evaluate(() => document.activeElement.id), 'email', 'focus after opening the handoff');
    await page.locator('#email').fill(DATA.emails.mouse);
    await page.locator('#consent').check();
    const n = await botItems(page).count();
    await page.locator('form#handoff-form button[type=submit]').click();
    const done = await newReply(page, n, 'the handoff');
    const number = (await done.innerText()).match(/\b(KC-\d{4}-\d{6})\b/);
    assert(number, `no case number after the handoff: ${await done.innerText()}`);
    handoffs.push([DATA.emails.mouse, number[1]]);
    assert(await page.locator('section#handoff').isHidden(), 'the handoff form stays open after sending');
    log('mouse: handed off, case', number[1]);

    // The language switch: links, and Arabic right to left.
    await Promise.all([page.waitForURL(/lang=en/), page.locator('nav a[hreflang=en]').click()]);
    assertEqual(await page.getAttribute('html', 'lang'), 'en', 'after switching to English');
    assertEqual(await page.locator('label[for=question]').innerText(), 'Your question', 'the English label');
    await Promise.all([page.waitForURL(/lang=ar/), page.locator('nav a[hreflang=ar]').click()]);
    assertEqual(await page.getAttribute('html', 'dir'), 'rtl', 'Arabic page direction');
    assertEqual(await page.locator('main').evaluate((m) => getComputedStyle(m).direction), 'rtl', 'computed direction of the Arabic page');
    assertEqual(await page.locator('nav a[aria-current]').getAttribute('hreflang'), 'ar', 'the current language link');
    await Promise.all([page.waitForURL(/lang=sv/), page.locator('nav a[hreflang=sv]').click()]);
    assertEqual(await page.getAttribute('html', 'dir'), 'ltr', 'back to Swedish');
    log('language switch works; Arabic is right to left');
    await guard.page(page);
    assert(await page.evaluate(() => document.cookie === '' && localStorage.length === 0 && sessionStorage.length === 0),
      'the chat stored something in the browser');
    await guard.check();
    await context.close();
  }

  // 3. From the keyboard alone, in English (Accept-Language picks it): type + Enter, a
  //    suggestion with Tab and Enter, the handoff with Enter, the email typed, consent with
  //    Space, sent with Enter. Every focus stop must be visible.
  {
    const { context, guard } = await chatContext(browser, { locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(`${BASE_URL}/chat`);
    assertEqual(await page.getAttribute('html', 'lang'), 'en', 'the language from Accept-Language');
    await tabTo(page, (f) => f.id === 'question', 'the question field');
    let before = await botItems(page).count();
    await page.keyboard.type(ASK.en.answer);
    await page.keyboard.press('Enter');
    const answer = await newReply(page, before, 'the question typed and sent with Enter');
    await expectAnswer(answer, ASK.en.source, 'the typed question');
    assertEqual((await focused(page)).id, 'question', 'focus after sending');
    const suggestion = (await topicTitles(answer))[0];
    assert(suggestion, 'no suggestion under the answer');
    await tabTo(page, (f) => f.tag === 'button' && f.text === suggestion, `the suggestion "${suggestion}"`, { back: true });
    before = await botItems(page).count();
    await page.keyboard.press('Enter');
    const followUp = await newReply(page, before, 'the suggestion chosen with Enter');
    await expectAnswer(followUp, Object.keys(DATA.titles).find((id) => DATA.titles[id] === suggestion), 'the suggestion');
    await tabTo(page, (f) => f.id === 'question', 'the question field again');
    before = await botItems(page).count();
    await page.keyboard.type(ASK.en.notSure);
    await page.keyboard.press('Enter');
    const notSure = await newReply(page, before, 'the unknown question');
    await expectNotSure(notSure, ASK.en.handoffOffer, 'the unknown question');
    await tabTo(page, (f) => f.tag === 'button' && f.text === ASK.en.handoffOffer, 'the handoff offer', { back: true });
    await page.keyboard.press('Enter');
    const email = await focused(page);
    assert(email.id === 'email' && email.visible, `Enter on the offer put the focus on ${describe(email)}`);
    await page.keyboard.type(DATA.emails.keyboard);
    await page.keyboard.press('Tab');
    assertEqual((await focused(page)).id, 'consent', 'Tab from the email field');
    await page.keyboard.press('Space');
    assert(await page.locator('#consent').isChecked(), 'Space did not tick the consent box');
    await page.keyboard.press('Tab');
    const submit = await focused(page);
    assert(submit.tag === 'button' && submit.form === 'handoff-form' && submit.visible, `Tab from consent reached ${describe(submit)}`);
    before = await botItems(page).count();
    await page.keyboard.press('Enter');
    const done = await newReply(page, before, 'the handoff sent with Enter');
    const number = (await done.innerText()).match(/case number is (KC-\d{4}-\d{6})\./);
    assert(number, `no case number after the keyboard handoff: ${await done.innerText()}`);
    handoffs.push([DATA.emails.keyboard, number[1]]);
    log(`keyboard: asked, followed a suggestion, handed off (case ${number[1]}); ${focusChecks} focus stops visible`);
    await guard.page(page);
    await guard.check();
    await context.close();
  }

  // 4. The embed script on the municipality's page (another origin): the button opens the
  //    chat in a frame, which answers; axe inside the frame.
  {
    const { context, guard } = await chatContext(browser);
    const page = await context.newPage();
    const response = await page.goto(DATA.host_url);
    assert(response.ok(), `the host page answered ${response.status()}`);
    const button = page.getByRole('button', { name: 'Chatta med kommunen' });
    await button.click();
    assertEqual(await button.getAttribute('aria-expanded'), 'true', 'the embed button after opening');
    const iframe = page.locator('iframe#brevduva-chat');
    await iframe.waitFor({ state: 'visible' });
    const src = new URL(await iframe.getAttribute('src'));
    assertEqual(src.origin, ORIGIN, 'the frame is served by Brevduva');
    const frame = await (await iframe.elementHandle()).contentFrame();
    await frame.waitForLoadState('load');
    await frame.locator('#question').waitFor({ state: 'visible' }).catch(() => fail(`the chat did not load in the frame (${frame.url()})`));
    assert(frame.url().startsWith(`${ORIGIN}/chat?embed=1`), `the frame shows ${frame.url()}`);
    assertEqual(await frame.locator('body').getAttribute('class'), 'embed', 'the embedded page');
    const answer = await askWithMouse(frame, ASK.sv.answer);
    await expectAnswer(answer, ASK.sv.source, 'the question in the frame');
    await axeBothSchemes(page, frame, '/chat?embed=1 in the frame, with an answer');
    // The language links keep the embedded layout.
    await Promise.all([frame.waitForURL(/lang=uk/), frame.locator('nav a[hreflang=uk]').click()]);
    assert(/embed=1/.test(frame.url()), `the language switch left the embedded page: ${frame.url()}`);
    await button.click();
    assert(await iframe.isHidden(), 'the button does not close the frame');
    log('embed: the frame loads on the host page and answers');
    await guard.page(page);
    await guard.check();
    await context.close();
  }

  for (const [email, number] of handoffs) console.log(`handoff ${email} ${number}`);
  console.log(`questions ${answered}`);
  log(`axe ran ${axeRuns} times (tags ${TAGS.join(', ')})`);
  if (axeReport.length) {
    const lines = axeReport.map((v) => `- ${v.page}\n    ${v.id} (${v.impact}): ${v.help} [${v.count} elements]\n      ${v.nodes.join('\n      ')}`);
    fail(`axe found ${axeReport.length} WCAG 2.1 A/AA violations:\n${lines.join('\n')}`);
  }
});
