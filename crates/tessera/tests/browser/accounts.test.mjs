// The person's own account and the administrators' users page in the console: profile details,
// a password change that ends the other sessions, and an admin giving a member a staff role.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { follow, labelled, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ root: 'admin', alice: 'member' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a profile is edited and a password change ends the other session', async () => {
  const other = await browser.newContext();
  const context = await browser.newContext();
  try {
    const otherPage = await other.newPage();
    await signIn(otherPage, server, server.users.alice);
    const page = await context.newPage();
    await signIn(page, server, server.users.alice);
    await follow(page, page.getByRole('link', { name: 'Profile', exact: true }));
    assert.equal(await page.getByRole('button', { name: /^End session/ }).count(), 1, 'the other browser');
    await look(page, 'profile');

    await labelled(page, 'Department').fill('Flow lab');
    await follow(page, page.getByRole('button', { name: 'Save profile' }));
    assert.equal(await labelled(page, 'Department').inputValue(), 'Flow lab');

    const renewed = `${server.users.alice.password}-renewed`;
    await labelled(page, 'Current password').fill(server.users.alice.password);
    await labelled(page, 'New password').fill(renewed);
    await labelled(page, 'New password again').fill(renewed);
    await follow(page, page.getByRole('button', { name: 'Change password' }));
    assert.match(await page.getByRole('status').innerText(), /Password changed\. 1 other session was ended\./);
    assert.equal(await page.getByRole('button', { name: /^End session/ }).count(), 0);
    await look(page, 'profile-password-changed');

    // The other browser is signed out for real.
    await otherPage.goto(`${server.base}/tokens`);
    assert.equal(new URL(otherPage.url()).pathname, '/');
    assert.equal(await otherPage.getByRole('button', { name: 'Sign in' }).count(), 1);
    server.users.alice.password = renewed;
  } finally {
    await context.close();
    await other.close();
  }
});

test('an admin gives a member a staff role', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.root);
    await follow(page, page.getByRole('link', { name: 'Users', exact: true }));
    await look(page, 'users');
    await page.getByLabel('Role of alice').selectOption('therapist');
    await follow(page, page.getByRole('button', { name: 'Change role of alice' }));
    assert.match(await mainText(page), /Role changed from member to therapist/);
    assert.equal(await page.getByLabel('Role of alice').inputValue(), 'therapist');
  } finally {
    await context.close();
  }
  // Alice now reaches the case records, and still sees no Users page.
  const hers = await browser.newContext();
  const page2 = await hers.newPage();
  try {
    await signIn(page2, server, server.users.alice);
    assert.equal(await page2.getByRole('link', { name: 'Users' }).count(), 0);
    const list = await follow(page2, page2.getByRole('link', { name: 'Beneficiaries', exact: true }));
    assert.equal(list.status(), 200);
  } finally {
    await hers.close();
  }
});
