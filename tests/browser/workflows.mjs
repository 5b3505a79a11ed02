// Kontaktcenter's work in the panel, with the mouse: log in, confirm a suggested
// department, reroute with a reason, reply from a suggestion (edited before sending), turn
// the sent reply into a knowledge entry (redaction preview, save approved for the chat,
// edit, retire); and what a department's staff may not see. The Rust side checks the
// database afterwards.

import { BASE_URL, DATA, USERS, assert, assertEqual, fail, flash, guardedContext, log, logIn, main } from './lib.mjs';

const { confirm, reroute, reroute_to: rerouteTo, reply, other_department_case: otherCase } = DATA.mouse;

await main(async (browser) => {
  const { context, guard } = await guardedContext(browser);
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.accept();
  });

  await logIn(page, USERS.kc);
  log('logged in as', USERS.kc.user);

  // Confirm the suggested department of a case waiting for triage.
  await page.goto(`${BASE_URL}/cases/${confirm}`);
  const statusBefore = await page.innerText('#case-status');
  const department = await page.innerText('#case-department');
  await Promise.all([page.waitForURL(/\?done=confirm$/), page.click('form#confirm button[type=submit]')]);
  assert((await flash(page)).length > 0, 'empty flash after confirming');
  const statusAfter = await page.innerText('#case-status');
  assert(statusAfter !== statusBefore, `status did not change on confirming (${statusBefore})`);
  assertEqual(await page.innerText('#case-department'), department, 'department after confirming');
  log('confirmed', confirm, `${statusBefore} -> ${statusAfter}`);

  // Reroute a case with a reason.
  await page.goto(`${BASE_URL}/cases/${reroute}`);
  const from = await page.innerText('#case-department');
  await page.selectOption('#reroute-department', rerouteTo);
  const toName = (await page.locator(`#reroute-department option[value="${rerouteTo}"]`).innerText()).trim();
  assert(toName !== from, `the case ${reroute} is already at ${toName}`);
  await page.fill('#reroute-reason', 'Gäller fläkten på gatan, inte bygglov (webbtest)');
  await Promise.all([page.waitForURL(/\?done=reroute$/), page.click('form#reroute button[type=submit]')]);
  await flash(page);
  assertEqual((await page.innerText('#case-department')).trim(), toName, 'department after rerouting');
  const thread = await page.innerText('ol.thread');
  assert(thread.includes('Gäller fläkten på gatan'), 'the reason is not in the thread');
  log('rerouted', reroute, `${from} -> ${toName}`);

  // Reply: use the first suggestion, edit it, send.
  await page.goto(`${BASE_URL}/cases/${reply}`);
  const suggestion = (await page.textContent('#suggestion-1')).trim();
  assert(suggestion.length > 20, 'no suggested reply');
  await Promise.all([page.waitForURL(/\?use=1#reply-body$/), page.getByRole('link', { name: 'Använd förslaget' }).first().click()]);
  const prefilled = await page.inputValue('#reply-body');
  assertEqual(prefilled.trim().replace(/\r\n/g, '\n'), suggestion.replace(/\r\n/g, '\n'), 'the reply field holds the suggestion');
  const marker = 'Vi byter lampan vecka 49 (webbtest).';
  const edited = prefilled.replace(/^Hej!?/, `Hej!\n\n${marker}`);
  assert(edited.includes(marker), 'could not edit the suggestion');
  await page.fill('#reply-body', edited);
  await Promise.all([page.waitForURL(/\?done=reply$/), page.click('form#reply button[type=submit]')]);
  await flash(page);
  const sent = page.locator('ol.thread > li.outgoing', { hasText: marker });
  assertEqual(await sent.count(), 1, 'outgoing replies with the edited text in the thread');
  log('replied to', reply);

  // The sent reply becomes a knowledge entry.
  await Promise.all([
    page.waitForURL(/\/knowledge\/new\?case=.*&outbox=\d+$/),
    sent.getByRole('link', { name: 'Gör svaret till en kunskapspost' }).click(),
  ]);
  const redaction = page.locator('#redaction');
  assert(await redaction.isVisible(), 'no redaction preview');
  const found = (await redaction.locator('tbody tr td:nth-child(2)').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  assert(found.length > 0, 'the redaction preview lists nothing');
  const fields = ['#entry-subject', '#entry-text', '#entry-answer'];
  for (const f of fields) {
    const value = await page.inputValue(f);
    for (const personal of found) assert(!value.includes(personal), `${f} still contains "${personal}"`);
  }
  assert((await page.inputValue('#entry-answer')).includes('Vi byter lampan vecka 49'), 'the answer is not the sent reply');
  assert(!(await page.inputValue('#entry-answer')).includes(USERS.kc.name), 'the answer keeps the signature name');
  await page.check('#entry-approved');
  await Promise.all([page.waitForURL(/\/knowledge\/[^/?]+\?done=saved$/), page.click('form#entry button[type=submit]')]);
  await flash(page);
  const entryUrl = page.url().replace(/\?.*$/, '');
  assert(entryUrl.endsWith(`/knowledge/${reply}`), `the entry is not named after the case: ${entryUrl}`);
  assert(await page.isChecked('#entry-approved'), 'the entry is not approved after saving');
  log('knowledge entry saved', entryUrl, 'redacted:', found.join(', '));

  // Edit it.
  await page.fill('#entry-subject', 'Trasig gatlampa – så gör vi (redigerad)');
  await page.fill('#entry-review-by', '2027-06-30');
  await Promise.all([page.waitForURL(/\?done=saved$/), page.click('form#entry button[type=submit]')]);
  await flash(page);
  await page.goto(entryUrl);
  assertEqual(await page.inputValue('#entry-subject'), 'Trasig gatlampa – så gör vi (redigerad)', 'subject after editing');
  assertEqual(await page.inputValue('#entry-review-by'), '2027-06-30', 'review date after editing');
  assert(await page.isChecked('#entry-approved'), 'the approval was lost by editing');
  log('knowledge entry edited');

  // Retire it (the panel asks first).
  await Promise.all([page.waitForURL(/\?done=retired$/), page.click('form#retire button[type=submit]')]);
  await flash(page);
  assertEqual(dialogs.length, 1, 'questions asked before retiring');
  assertEqual(await page.locator('form#retire').count(), 0, 'retire form after retiring');
  await page.goto(`${BASE_URL}/knowledge?q=&retired=1`);
  const row = page.locator('table#entries tr', { has: page.locator(`a[href="/knowledge/${reply}"]`) });
  assertEqual(await row.count(), 1, 'the entry in the list with retired entries');
  log('knowledge entry retired');
  guard.check();
  await context.close();

  // A department's staff see their own cases only, and none of Kontaktcenter's tools.
  const dept = await guardedContext(browser);
  const deptPage = await dept.context.newPage();
  await logIn(deptPage, USERS.dept);
  const links = await deptPage.locator('table#queue tbody a[href^="/cases/"]').count();
  assert(links > 0, 'the department sees no cases');
  const departments = new Set((await deptPage.locator('table#queue tbody tr td:nth-child(3)').allInnerTexts()).map((t) => t.trim()));
  assertEqual([...departments].join(','), USERS.dept.department, 'departments in the department queue');
  assertEqual(await deptPage.locator('nav a[href="/knowledge"]').count(), 0, 'knowledge link for department staff');
  const knowledge = await deptPage.goto(`${BASE_URL}/knowledge`);
  assertEqual(knowledge.status(), 403, 'knowledge base for department staff');
  const foreign = await deptPage.goto(`${BASE_URL}/cases/${otherCase}`);
  assertEqual(foreign.status(), 404, "another department's case");
  const own = await deptPage.goto(`${BASE_URL}/cases/${DATA.mouse.department_case}`);
  assertEqual(own.status(), 200, "the department's own case");
  assertEqual(await deptPage.locator('form#confirm, form#reroute, form#merge').count(), 0, 'triage forms for department staff');
  assertEqual(await deptPage.locator('form#reply').count(), 1, 'reply form for department staff');
  log('department staff checked');
  dept.guard.check();
  if (dialogs.length !== 1) fail(`unexpected dialogs: ${dialogs.join(' | ')}`);
});
