// Shared helpers of the browser tests: launching Chromium, logging in, guards that fail a
// test on anything that leaves 127.0.0.1 or lacks the panel's Content-Security-Policy, and
// small assertions that say what went wrong.
//
// Environment (set by tests/integration/browser.rs): BASE_URL, CHROMIUM_PATH, ADMIN_USER,
// ADMIN_PASSWORD, KC_USER, KC_NAME, KC_PASSWORD, DEPT_USER, DEPT_PASSWORD, DEPT_ID and
// BREVDUVA_TEST_DATA (JSON with the cases to work on).

import { chromium } from 'playwright-core';

export const BASE_URL = need('BASE_URL');
export const ORIGIN = new URL(BASE_URL).origin;
export const DATA = JSON.parse(process.env.BREVDUVA_TEST_DATA || '{}');
export const USERS = {
  admin: { user: need('ADMIN_USER'), password: need('ADMIN_PASSWORD') },
  kc: { user: need('KC_USER'), password: need('KC_PASSWORD'), name: process.env.KC_NAME || '' },
  dept: { user: need('DEPT_USER'), password: need('DEPT_PASSWORD'), department: process.env.DEPT_ID || '' },
};

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these scripts through cargo test (tests/integration/browser.rs)`);
  return v;
}

/** Fails the test with a message. */
export function fail(message) {
  throw new Error(message);
}

export function assert(condition, message) {
  if (!condition) fail(message);
}

export function assertEqual(actual, expected, message) {
  if (actual !== expected) fail(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

let started = Date.now();
/** A progress line with the seconds since the start. */
export function log(...parts) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s]`, ...parts);
}

/** Chromium as the test servers document says: headless, no sandbox (root), no background traffic. */
export async function launch() {
  started = Date.now();
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * A browser context with guards: every request to a host other than the panel's is
 * recorded and aborted, every panel response without a strict CSP is recorded, and page
 * errors are recorded. `guard.check()` fails the test if anything was recorded.
 */
export async function guardedContext(browser, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, locale: 'sv-SE', ...options });
  context.setDefaultTimeout(15000);
  context.setDefaultNavigationTimeout(20000);
  const guard = { foreign: [], csp: [], pageErrors: [], responses: 0 };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let host = '';
    try {
      host = new URL(url).host;
    } catch {
      // not a URL with a host
    }
    if (host !== new URL(ORIGIN).host) {
      guard.foreign.push(url);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  context.on('response', (response) => {
    const url = response.url();
    if (!url.startsWith(ORIGIN)) return;
    guard.responses += 1;
    const csp = response.headers()['content-security-policy'] || '';
    if (!strictCsp(csp)) guard.csp.push(`${response.status()} ${url}: ${csp || '(none)'}`);
  });
  context.on('page', (page) => page.on('pageerror', (e) => guard.pageErrors.push(`${page.url()}: ${e.message}`)));
  guard.check = () => {
    assert(guard.foreign.length === 0, `requests left 127.0.0.1:\n  ${guard.foreign.join('\n  ')}`);
    assert(guard.csp.length === 0, `responses without a strict Content-Security-Policy:\n  ${guard.csp.join('\n  ')}`);
    assert(guard.pageErrors.length === 0, `errors on pages:\n  ${guard.pageErrors.join('\n  ')}`);
    assert(guard.responses > 0, 'no response from the panel was seen');
  };
  return { context, guard };
}

/** Whether a Content-Security-Policy is Brevduva's strict one. */
export function strictCsp(csp) {
  const directives = Object.fromEntries(
    csp
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const [name, ...values] = d.split(/\s+/);
        return [name.toLowerCase(), values.join(' ')];
      }),
  );
  const scriptSrc = directives['script-src'] ?? directives['default-src'] ?? '';
  return (
    directives['default-src'] === "'none'" &&
    !/unsafe-inline|unsafe-eval|\*|data:|https?:/.test(scriptSrc) &&
    !/unsafe-inline|\*|data:|https?:/.test(directives['style-src'] ?? '') &&
    directives['frame-ancestors'] === "'none'" &&
    directives['base-uri'] === "'none'" &&
    directives['form-action'] === "'self'"
  );
}

/** Logs in through the form (mouse and typing) and waits for the queue. */
export async function logIn(page, who) {
  await page.goto(`${BASE_URL}/login`);
  await page.fill('#username', who.user);
  await page.fill('#password', who.password);
  await Promise.all([page.waitForURL(`${BASE_URL}/`), page.click('form#login button[type=submit]')]);
  assert(await page.locator('table#queue').isVisible(), `no queue after logging in as ${who.user}`);
}

/** The text of the flash message after an action, or a failure naming the error shown. */
export async function flash(page) {
  const error = page.locator('#error');
  if (await error.count()) fail(`the page shows an error: ${await error.innerText()} (${page.url()})`);
  const status = page.locator('p#flash[role=status]');
  assert((await status.count()) === 1, `no flash message on ${page.url()}`);
  return (await status.innerText()).trim();
}

/** Switches the panel's language with its own link (sets the brevduva_lang cookie). */
export async function switchLanguage(page, to) {
  await page.goto(`${BASE_URL}/language?to=${to}`);
  assertEqual(await page.getAttribute('html', 'lang'), to, 'page language after switching');
}

/** Runs a test body, printing the failure and closing the browser; sets the exit code. */
export async function main(body) {
  let browser;
  try {
    browser = await launch();
    await body(browser);
    log('ok');
  } catch (e) {
    console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
}
