// A personal access token's life in the console: minted and shown once, used by a script
// against the API, seen in the token's audit log, regenerated, revoked and then refused.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { follow, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ alice: 'member' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** What a script holding `secret` gets for `GET path`: its status. */
async function apiStatus(secret, path) {
  const response = await fetch(`${server.base}${path}`, { headers: { authorization: `Bearer ${secret}` } });
  return response.status;
}

test('a token is minted, shown once, used, audited, regenerated and revoked', async () => {
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.alice);
    await follow(page, page.getByRole('link', { name: 'Tokens', exact: true }));
    assert.match(await mainText(page), /You have no tokens yet/);
    await look(page, 'tokens-empty');

    await follow(page, page.getByRole('link', { name: 'New token' }));
    // A member may hold no case-record or connection scope: none is offered.
    assert.equal(await page.getByLabel('beneficiaries:read').count(), 0);
    await look(page, 'token-new');
    await page.getByLabel('Name').fill('plate reader');
    await page.getByLabel('fcs:read').check();
    await page.getByLabel('7 days').check();
    const created = await follow(page, page.getByRole('button', { name: 'Generate token' }));
    assert.equal(created.status(), 201);
    const secret = await page.getByLabel('Your new token').inputValue();
    assert.match(secret, /^pat_[A-Za-z0-9]+$/);
    await look(page, 'token-created');

    // The copy button (the one script's) puts the secret on the clipboard.
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

    // A script uses it: one request within its scope, one beyond.
    assert.equal(await apiStatus(secret, '/api/v1/fcs/files'), 200);
    assert.equal(await apiStatus(secret, '/api/v1/beneficiaries'), 403);

    // Shown once: no later page holds it.
    await follow(page, page.getByRole('link', { name: 'Back to your tokens' }));
    assert.ok(!(await page.content()).includes(secret));
    await look(page, 'tokens');
    await follow(page, page.getByRole('link', { name: 'plate reader', exact: true }));
    assert.ok(!(await page.content()).includes(secret));
    const log = await mainText(page);
    assert.match(log, /GET \/api\/v1\/fcs\/files 200 allowed/);
    assert.match(log, /GET \/api\/v1\/beneficiaries 403 refused/);
    assert.match(log, /2 requests; page 1 of 1/);
    await look(page, 'token');

    await follow(page, page.getByRole('link', { name: 'Refused', exact: true }));
    const refused = await mainText(page);
    assert.match(refused, /1 refused request; page 1 of 1/);
    assert.doesNotMatch(refused, /fcs\/files/);
    await look(page, 'token-refused-requests');

    await follow(page, page.getByRole('link', { name: 'Regenerate', exact: true }));
    await look(page, 'token-regenerate');
    await follow(page, page.getByRole('button', { name: 'Regenerate token' }));
    const renewed = await page.getByLabel('Your new secret').inputValue();
    assert.notEqual(renewed, secret);
    assert.equal(await apiStatus(secret, '/api/v1/fcs/files'), 401, 'the old secret stops working');
    assert.equal(await apiStatus(renewed, '/api/v1/fcs/files'), 200);
    await look(page, 'token-regenerated');

    await follow(page, page.getByRole('link', { name: 'Go to the token' }));
    await follow(page, page.getByRole('link', { name: 'Revoke', exact: true }));
    await look(page, 'token-revoke');
    await follow(page, page.getByRole('button', { name: 'Revoke' }));
    assert.match(await mainText(page), /Status revoked/);
    assert.equal(await page.getByRole('link', { name: 'Regenerate' }).count(), 0);
    assert.equal(await apiStatus(renewed, '/api/v1/fcs/files'), 401, 'a revoked token is refused');
  } finally {
    await context.close();
  }
});

test('without JavaScript a token is made all the same, with no copy button', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.alice);
    await page.goto(`${server.base}/tokens/new`);
    await page.getByLabel('Name').fill('no script');
    await page.getByLabel('workspaces:read').check();
    await follow(page, page.getByRole('button', { name: 'Generate token' }));
    assert.match(await page.getByLabel('Your new token').inputValue(), /^pat_/);
    assert.equal(await page.getByRole('button', { name: 'Copy' }).count(), 0);
  } finally {
    await context.close();
  }
});

test('a token is made by keyboard alone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.alice);
    await page.goto(`${server.base}/tokens`);
    // Tab to "New token" and follow it with Enter.
    const newToken = page.getByRole('link', { name: 'New token' });
    for (let presses = 0; presses < 30 && !(await newToken.evaluate((el) => el === document.activeElement)); presses++) {
      await page.keyboard.press('Tab');
    }
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(new URL(page.url()).pathname, '/tokens/new');
    await page.getByLabel('Name').focus();
    await page.keyboard.type('keyboard only');
    // The first scope checkbox follows the name field; Space ticks it.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    assert.equal(await page.getByLabel('workspaces:admin').isChecked(), true);
    await page.getByRole('button', { name: 'Generate token' }).focus();
    const [created] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(created.status(), 201);
    assert.match(await page.getByLabel('Your new token').inputValue(), /^pat_/);
  } finally {
    await context.close();
  }
});
