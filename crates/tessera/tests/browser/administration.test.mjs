// Running it for real (issue 14) in the console: an admin invites someone, disables and enables
// them and hands out a password-reset link, whose pages work for people who are not signed in;
// a manager makes a service account and gives it a token; the security events show all of it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { follow, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ root: 'admin', mia: 'manager' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The one-time link a page shows once. */
async function shownLink(page) {
  return page.locator('#link').inputValue();
}

test('an admin invites someone, disables and enables them, and hands them a reset link', async () => {
  const admin = await browser.newContext();
  const guest = await browser.newContext();
  try {
    const page = await admin.newPage();
    await signIn(page, server, server.users.root);
    await follow(page, page.getByRole('link', { name: 'Users', exact: true }));
    await look(page, 'users-admin');

    await page.locator('#invite-email').fill('tess@example.com');
    await page.locator('#invite-role').selectOption('therapist');
    await follow(page, page.getByRole('button', { name: 'Make invitation link' }));
    await look(page, 'invitation-link');
    const invitation = await shownLink(page);
    assert.match(invitation, /\/invite\?token=/);

    const hers = await guest.newPage();
    await hers.goto(invitation);
    assert.match(await mainText(hers), /tess@example\.com.*therapist/);
    await look(hers, 'accept-invitation');
    await hers.getByLabel(/^Username/).fill('tess');
    await hers.getByLabel(/^Password/).fill('first password 1');
    await hers.getByLabel('The same again').fill('first password 1');
    await follow(hers, hers.getByRole('button', { name: 'Create account' }));
    assert.match(await mainText(hers), /Account created/);
    await signIn(hers, server, { username: 'tess', password: 'first password 1' });
    assert.equal(await hers.getByRole('link', { name: 'Beneficiaries', exact: true }).count(), 1);

    // Disabled: her session ends at once.
    await follow(page, page.getByRole('link', { name: 'Users', exact: true }));
    await follow(page, page.getByRole('button', { name: 'Disable tess' }));
    assert.match(await page.getByRole('status').innerText(), /tess is disabled: 1 session\(s\) ended/);
    await hers.goto(`${server.base}/tokens`);
    assert.equal(await hers.getByRole('button', { name: 'Sign in' }).count(), 1, 'signed out');
    await follow(page, page.getByRole('button', { name: 'Enable tess' }));
    assert.match(await page.getByRole('status').innerText(), /tess is enabled/);

    await follow(page, page.getByRole('button', { name: 'Reset link for tess' }));
    const reset = await shownLink(page);
    await hers.goto(reset);
    await look(hers, 'reset-password');
    await hers.getByLabel(/^New password/).fill('second password 2');
    await hers.getByLabel('The same again').fill('second password 2');
    await follow(hers, hers.getByRole('button', { name: 'Set password' }));
    assert.match(await mainText(hers), /Password set/);
    const again = await hers.goto(reset);
    assert.equal(again.status(), 410, 'a link works once');
    await signIn(hers, server, { username: 'tess', password: 'second password 2' });
  } finally {
    await admin.close();
    await guest.close();
  }
});

test('a manager makes a service account and gives it a token; the events show it', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await signIn(page, server, server.users.mia);
    await follow(page, page.getByRole('link', { name: 'Service accounts', exact: true }));
    await page.getByLabel(/^Name/).fill('cytometer-3');
    await page.getByLabel(/^Description/).fill('The Aurora in room 2');
    await follow(page, page.getByRole('button', { name: 'Make service account' }));
    assert.match(await mainText(page), /Service account “cytometer-3”/);
    await look(page, 'service-account');

    await page.locator('#token-name').fill('acquisition');
    await page.getByLabel('fcs:write', { exact: true }).check();
    await follow(page, page.getByRole('button', { name: 'Generate token' }));
    await look(page, 'service-account-token');
    const secret = await page.locator('#secret').inputValue();
    const me = await fetch(`${server.base}/api/v1/tokens/self`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).data.owner.kind, 'service');

    await follow(page, page.getByRole('link', { name: 'Security events', exact: true }));
    assert.match(await mainText(page), /service_account_created/);
    await look(page, 'security-events');
  } finally {
    await context.close();
  }
});
