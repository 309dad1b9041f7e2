// Branches in the console against a real third-party authorization server on loopback
// (oauth2-mock-server, started by scripts/test.sh and named in OAUTH_MOCK_URL): an admin adds
// an OAuth client and a branch, connects it through the provider's consent redirect, sees the
// result page and the connection, refreshes it now and disconnects it. A therapist is refused.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { follow, labelled, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

const issuer = process.env.OAUTH_MOCK_URL;
if (!issuer) {
  // scripts/test.sh starts the mock and sets this, so there the journey cannot be skipped.
  assert.ok(!process.env.TESSERA_REQUIRE_OAUTH_MOCK, 'TESSERA_REQUIRE_OAUTH_MOCK is set but OAUTH_MOCK_URL is not');
}

let browser;
let server;
before(async () => {
  if (!issuer) return;
  browser = await launchBrowser();
  server = await startServer(
    { root: 'admin', tess: 'therapist' },
    {
      GOOGLE_AUTH_URL: `${issuer}/authorize`,
      GOOGLE_TOKEN_URL: `${issuer}/token`,
      GOOGLE_REVOKE_URL: `${issuer}/revoke`,
    },
  );
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a branch is connected through the provider, refreshed and disconnected', { skip: !issuer && 'OAUTH_MOCK_URL is not set' }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.root);
    await follow(page, page.getByRole('link', { name: 'Branches', exact: true }));
    await look(page, 'branches-empty');
    assert.equal(await labelled(page, 'Redirect URI').inputValue(), `${server.base}/branches/callback`);
    await labelled(page, 'Client name').fill('Google (test)');
    await labelled(page, 'Client ID').fill('console-client');
    await labelled(page, 'Client secret').fill('console-secret');
    const added = await follow(page, page.getByRole('button', { name: 'Add OAuth client' }));
    assert.equal(added.status(), 201);
    assert.ok(!(await page.content()).includes('console-secret'), 'the secret is never shown');

    await labelled(page, 'Branch identifier').fill('riverside');
    await labelled(page, 'Branch name').fill('Riverside clinic');
    await follow(page, page.getByRole('button', { name: 'Add branch' }));
    assert.match(await mainText(page), /Riverside clinic riverside Google \(test\) not connected/);
    await look(page, 'branches');

    // Connect: to the provider's consent page, which sends the browser straight back.
    await Promise.all([
      page.waitForURL(/\/branches\/callback\?/),
      page.getByRole('button', { name: 'Connect Riverside clinic' }).click(),
    ]);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Branch connected');
    assert.match(await mainText(page), /Branch Riverside clinic is connected\./);
    await look(page, 'branch-connected');

    await follow(page, page.getByRole('link', { name: 'Go to your branches' }));
    assert.match(await mainText(page), /Riverside clinic .* connected \d{4}-\d\d-\d\d/);
    await follow(page, page.getByRole('button', { name: 'Refresh now Riverside clinic' }));
    assert.match(await page.getByRole('status').innerText(), /Refreshed: the access token now expires/);

    await follow(page, page.getByRole('link', { name: 'Disconnect Riverside clinic' }));
    await look(page, 'branch-disconnect');
    await follow(page, page.getByRole('button', { name: 'Disconnect' }));
    assert.match(await page.getByRole('status').innerText(), /^Disconnected/);
    assert.match(await mainText(page), /Riverside clinic riverside Google \(test\) not connected/);

    // A used state cannot connect again.
    const replay = await page.goto(`${server.base}/branches/callback?code=x&state=not-a-state`);
    assert.equal(replay.status(), 400);
    assert.match(await page.getByRole('alert').innerText(), /start the authorization again/);
    await look(page, 'branch-callback-refused');
  } finally {
    await context.close();
  }
});

test('a therapist may not manage branches', { skip: !issuer && 'OAUTH_MOCK_URL is not set' }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.tess);
    const answer = await follow(page, page.getByRole('link', { name: 'Branches', exact: true }));
    assert.equal(answer.status(), 403);
    assert.doesNotMatch(await mainText(page), /Riverside/);
  } finally {
    await context.close();
  }
});
