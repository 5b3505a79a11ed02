// Accessibility: axe-core, run inside Chromium, finds no WCAG 2.1 A/AA violation on any
// page of the panel, in Swedish and in English.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { BASE_URL, DATA, USERS, assert, fail, guardedContext, log, logIn, main, switchLanguage } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** axe's violations on the page that is open (axe is evaluated through DevTools, which the CSP does not block). */
async function violations(page) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.html.slice(0, 160)}\n        ${n.failureSummary.replace(/\n/g, ' ')}`),
      count: v.nodes.length,
    }));
  }, TAGS);
}

/** The address of the first link matching `selector` on `path`. */
async function linkOn(page, path, selector) {
  await page.goto(`${BASE_URL}${path}`);
  const href = await page.locator(selector).first().getAttribute('href');
  assert(href, `no link ${selector} on ${path}`);
  return href.replace(/#.*$/, '');
}

await main(async (browser) => {
  const report = [];
  let checked = 0;
  for (const lang of ['sv', 'en']) {
    const { context, guard } = await guardedContext(browser, { locale: lang === 'sv' ? 'sv-SE' : 'en-GB' });
    const page = await context.newPage();
    const check = async (name, path) => {
      const response = await page.goto(`${BASE_URL}${path}`);
      assert(response.ok(), `${name} (${path}) answered ${response.status()}`);
      assert((await page.getAttribute('html', 'lang')) === lang, `${name} is not in ${lang}`);
      const found = await violations(page);
      checked += 1;
      for (const v of found) report.push({ page: `${name} [${lang}] ${path}`, ...v });
    };
    if (lang === 'en') await switchLanguage(page, 'en');
    await check('log-in page', '/login');
    await logIn(page, USERS.admin);

    const html = await linkOn(page, `/cases/${DATA.html_case}`, 'a[href*="?html="]');
    const entryFromReply = await linkOn(page, `/cases/${DATA.replied_case}`, 'a[href^="/knowledge/new?case="]');
    const entry = await linkOn(page, '/knowledge', 'table#entries a[href^="/knowledge/"]');
    const ruleFile = await linkOn(page, '/rules', 'table#departments a[href^="/rules/"]');
    const pages = [
      ['queue', '/'],
      ['queue, every case', '/?status=all'],
      ['case page', `/cases/${DATA.replied_case}`],
      ['case page after an action', `/cases/${DATA.replied_case}?done=note`],
      ['case page with an error', `/cases/${DATA.replied_case}?error=empty_reply`],
      ['case page with a suggestion in use', `/cases/${DATA.replied_case}?use=1`],
      ['case page with the HTML view', html],
      ['case page with attachments', `/cases/${DATA.attachment_case}`],
      ['search form', '/search'],
      ['search results', `/search?q=${encodeURIComponent(DATA.search)}`],
      ['knowledge list', '/knowledge'],
      ['knowledge list, filtered', '/knowledge?q=bygglov&approved=1&retired=1'],
      ['new entry (empty)', '/knowledge/new'],
      ['new entry from a reply', entryFromReply],
      ['edit entry', entry],
      ['rules', '/rules'],
      ['rule file', ruleFile],
      ['rules test result', `/rules?text=${encodeURIComponent('Vi vill bygga ett uterum, behövs bygglov?')}&recipient=${encodeURIComponent('kontaktcenter@kommun.example')}`],
      ['outbox', '/outbox'],
      ['stats', '/stats'],
      ['data export and erasure', '/privacy'],
      ['audit log', '/audit'],
      ['audit log, searched', `/audit?action=read-case&case=${encodeURIComponent(DATA.replied_case)}`],
    ];
    for (const [name, path] of pages) await check(name, path);
    // Saved once in the panel, a rule file's page also says who edited it, offers the way back
    // to the file and lists the versions.
    await page.goto(`${BASE_URL}${ruleFile}`);
    await Promise.all([
      page.waitForURL(/done=rules_saved/),
      page.click('#rule-edit button[type="submit"]'),
    ]);
    assert(await page.locator('#rule-history li').count() > 0, 'the saved version is listed');
    await check('rule file edited in the panel', `${ruleFile}?done=rules_saved`);
    guard.check();
    await context.close();
  }
  log(`axe checked ${checked} pages (tags ${TAGS.join(', ')})`);
  if (report.length) {
    const lines = report.map((v) => `- ${v.page}\n    ${v.id} (${v.impact}): ${v.help} [${v.count} elements]\n      ${v.nodes.join('\n      ')}`);
    fail(`axe found ${report.length} WCAG violations:\n${lines.join('\n')}`);
  }
});
