// The case records in the console: a beneficiary created (a refused field shown next to it,
// nothing typed lost), a session booked and completed; and a member, who reaches no case
// record, sees none.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { follow, labelled, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ maria: 'manager', alice: 'member' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** `YYYY-MM-DD`, `days` from today (UTC). */
function day(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

test('a beneficiary is created, and a session booked and completed', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.maria);
    await follow(page, page.getByRole('link', { name: 'Beneficiaries', exact: true }));
    await look(page, 'beneficiaries-empty');
    await follow(page, page.getByRole('link', { name: 'New beneficiary' }));
    await labelled(page, 'National ID').fill('NID-7781');
    await labelled(page, 'First name').fill('Layla');
    await labelled(page, 'Last name').fill('Haddad');
    await labelled(page, 'Date of birth').fill(day(30)); // in the future: refused
    await labelled(page, 'Gender').selectOption('female');
    await labelled(page, "Guardian's name").fill('Omar Haddad');
    await labelled(page, "Guardian's phone").fill('+44 20 7946 0958');
    await labelled(page, 'Allergies').fill('peanuts\nlatex');
    const refused = await follow(page, page.getByRole('button', { name: 'Create beneficiary' }));
    assert.equal(refused.status(), 422);
    // The message is next to the field, tied to it for screen readers; what was typed stays.
    const birth = labelled(page, 'Date of birth');
    assert.equal(await birth.getAttribute('aria-invalid'), 'true');
    assert.match(await page.locator('#date_of_birth-error').innerText(), /date_of_birth cannot be in the future/);
    assert.equal(await labelled(page, 'First name').inputValue(), 'Layla');
    assert.equal(await labelled(page, 'Allergies').inputValue(), 'peanuts\nlatex');
    await look(page, 'beneficiary-refused');

    await birth.fill('2015-04-30');
    await follow(page, page.getByRole('button', { name: 'Create beneficiary' }));
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Layla Haddad');
    assert.match(await mainText(page), /Allergies peanuts, latex/);
    await look(page, 'beneficiary');

    await follow(page, page.getByRole('link', { name: 'Edit', exact: true }));
    assert.equal(await labelled(page, 'First name').inputValue(), 'Layla');
    await look(page, 'beneficiary-edit');
    await labelled(page, 'City').fill('Leeds');
    await labelled(page, 'Allergies').fill('peanuts');
    await follow(page, page.getByRole('button', { name: 'Save changes' }));
    const edited = await mainText(page);
    assert.match(edited, /City Leeds/);
    assert.match(edited, /Allergies peanuts\b/);
    assert.doesNotMatch(edited, /latex/, 'a list is replaced, not appended to');

    await labelled(page, 'Session type').selectOption('speech');
    await labelled(page, 'Date').fill(day(2));
    await labelled(page, 'Start').fill('10:00');
    await labelled(page, 'End').fill('10:45');
    await follow(page, page.getByRole('button', { name: 'Book session' }));
    assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /^Session TS-/);
    assert.match(await mainText(page), /Status scheduled/);
    await look(page, 'session');

    await follow(page, page.getByRole('link', { name: 'Sessions', exact: true }));
    assert.match(await mainText(page), /TS-.*speech/);
    await look(page, 'sessions');
    await follow(page, page.locator('main table a').first());

    await labelled(page, 'Progress rating (1–10)').fill('8');
    await labelled(page, 'Attendance').selectOption('present');
    await follow(page, page.getByRole('button', { name: 'Complete session' }));
    const done = await mainText(page);
    assert.match(done, /Status completed/);
    assert.match(done, /Progress rating 8/);
    assert.equal(await page.getByRole('button', { name: 'Complete session' }).count(), 0);

    await follow(page, page.getByRole('link', { name: 'Back to the beneficiary' }));
    await follow(page, page.getByRole('link', { name: 'Access log' }));
    const log = await mainText(page);
    assert.match(log, /session\.complete/);
    assert.match(log, /beneficiary\.create/);
    await look(page, 'beneficiary-log');
  } finally {
    await context.close();
  }
});

test('a member sees no beneficiaries', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.alice);
    const answer = await follow(page, page.getByRole('link', { name: 'Beneficiaries', exact: true }));
    assert.equal(answer.status(), 403);
    assert.match(await mainText(page), /Your role \(member\) may not read beneficiaries/);
    assert.doesNotMatch(await mainText(page), /Layla/);
    await look(page, 'beneficiaries-member');
    const form = await page.goto(`${server.base}/beneficiaries/new`);
    assert.equal(form.status(), 403);
  } finally {
    await context.close();
  }
});
