// Signing in and out in a real browser: by keyboard, a wrong password's message, a signed-out
// visit sent to sign-in and back, and a cross-site form refused.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { follow, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A fresh server with one member, and a fresh browser profile; `journey` gets both. */
async function journey(run) {
  const server = await startServer({ alice: 'member' });
  const context = await browser.newContext();
  try {
    await run(await context.newPage(), server);
  } finally {
    await context.close();
    await server.stop();
  }
}

test('signing in and out by keyboard', () =>
  journey(async (page, server) => {
    const alice = server.users.alice;
    await page.goto(server.base);
    await look(page, 'sign-in');
    // The username field has the focus when the page opens; Tab and Enter do the rest.
    await page.keyboard.type(alice.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(alice.password);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.match(await mainText(page), /You are signed in as alice with the role member/);
    for (const link of ['Tokens', 'FCS files', 'Branches', 'Beneficiaries', 'Sessions', 'Profile']) {
      assert.equal(await page.getByRole('link', { name: link, exact: true }).count(), 1, link);
    }
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0, 'a member sees no Users page');
    await look(page, 'home');

    await follow(page, page.getByRole('button', { name: 'Sign out' }));
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 1);
    // Signed out for real: the page needs signing in again.
    await page.goto(`${server.base}/tokens`);
    assert.equal(new URL(page.url()).pathname, '/');
  }));

test('a wrong password is told, with the login API’s message', () =>
  journey(async (page, server) => {
    await page.goto(server.base);
    await page.getByLabel('Username or email').fill('alice');
    await page.getByLabel('Password').fill('not the password');
    const response = await follow(page, page.getByRole('button', { name: 'Sign in' }));
    assert.equal(response.status(), 401);
    assert.equal(await page.getByRole('alert').innerText(), 'Invalid credentials');
    // What was typed stays, but never the password.
    assert.equal(await page.getByLabel('Username or email').inputValue(), 'alice');
    assert.equal(await page.getByLabel('Password').inputValue(), '');
    await look(page, 'sign-in-wrong-password');
  }));

test('a signed-out visit to a page goes to sign-in and back to that page', () =>
  journey(async (page, server) => {
    await page.goto(`${server.base}/tokens/new`);
    assert.equal(new URL(page.url()).pathname, '/');
    await page.getByLabel('Username or email').fill(server.users.alice.username);
    await page.getByLabel('Password').fill(server.users.alice.password);
    await follow(page, page.getByRole('button', { name: 'Sign in' }));
    assert.equal(new URL(page.url()).pathname, '/tokens/new');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'New personal access token');
  }));

test('a form posted from another site is refused', () =>
  journey(async (page, server) => {
    await signIn(page, server, server.users.alice);
    // Another origin (another port: same site, so even SameSite=Strict cookies go along) whose
    // page posts a form to the console, as a forged one would.
    const forger = createServer((_, answer) => {
      answer.setHeader('content-type', 'text/html');
      answer.end(`<!doctype html><html lang="en"><title>Win a prize</title>
        <form method="post" action="${server.base}/tokens">
          <input type="hidden" name="name" value="forged">
          <input type="hidden" name="scopes" value="fcs:admin">
          <input type="hidden" name="expiry" value="90">
          <button>Claim</button></form></html>`);
    });
    await new Promise((resolve) => forger.listen(0, '127.0.0.1', resolve));
    try {
      await page.goto(`http://127.0.0.1:${forger.address().port}/`);
      const response = await follow(page, page.getByRole('button', { name: 'Claim' }));
      assert.equal(response.status(), 403);
      assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Forbidden');
      await look(page, 'cross-site-refused');
    } finally {
      forger.close();
    }
    await page.goto(`${server.base}/tokens`);
    assert.match(await mainText(page), /You have no tokens yet/);
  }));

test('an unknown page is the console’s 404 page', () =>
  journey(async (page, server) => {
    const response = await page.goto(`${server.base}/no/such/page`);
    assert.equal(response.status(), 404);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Not Found');
    await look(page, 'not-found');
  }));
