// Webhooks in the console (issue 15): a person registers an endpoint on a receiver on loopback,
// copies its secret, sends a test event whose signature the receiver checks (node:crypto, as
// the Standard Webhooks specification says), sees the delivery with its attempt, retries it and
// pauses the endpoint. A branch's owner makes a connect link, which opens without signing in.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once, EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { follow, labelled, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
let receiver;
const deliveries = new EventEmitter();

before(async () => {
  browser = await launchBrowser();
  server = await startServer(
    { alice: 'member', root: 'admin' },
    { WEBHOOK_ALLOW_PRIVATE_ENDPOINTS: 'true', WEBHOOK_POLL_INTERVAL_MS: '50' },
  );
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      response.writeHead(204).end();
      deliveries.emit('delivery', { headers: request.headers, body });
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
});
after(async () => {
  await browser?.close();
  await server?.stop();
  receiver?.close();
});

/** Whether `delivery` carries a signature made with `secret` (`whsec_` + base64 key). */
function signedWith(delivery, secret) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': header } = delivery.headers;
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${delivery.body}`).digest('base64');
  return header.split(' ').includes(`v1,${expected}`);
}

/** Opens `url` until its main text matches `pattern` (the worker writes an outcome just after
 * the receiver answers); at most 40 times. (`goto`, not `reload`: reloading the answer to a
 * button would press it again.) */
async function openUntil(page, url, pattern) {
  for (let tries = 0; tries < 40; tries += 1) {
    await page.goto(url);
    if (pattern.test(await mainText(page))) return;
    await page.waitForTimeout(50);
  }
  assert.match(await mainText(page), pattern);
}

test('an endpoint is registered, tested, its delivery shown and retried, and paused', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, server, server.users.alice);
    await follow(page, page.getByRole('link', { name: 'Webhooks', exact: true }));
    await look(page, 'webhooks-empty');
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    await labelled(page, 'URL (public https)').fill(url);
    await labelled(page, 'Description (what receives it, who to ask)').fill('lab pager');
    await page.getByRole('checkbox', { name: /^token\.\*/ }).check();
    const made = await follow(page, page.getByRole('button', { name: 'Register endpoint' }));
    assert.equal(made.status(), 201);
    await look(page, 'webhook-secret');
    const secret = await page.locator('#secret').inputValue();
    assert.match(secret, /^whsec_/);

    await follow(page, page.getByRole('link', { name: 'Go to the endpoint' }));
    const endpoint = page.url();
    const arrived = once(deliveries, 'delivery');
    await follow(page, page.getByRole('button', { name: 'Send a test event' }));
    const [delivery] = await arrived;
    assert.equal(JSON.parse(delivery.body).type, 'webhook.test');
    assert.ok(signedWith(delivery, secret), 'the signature verifies with the secret shown');
    await openUntil(page, endpoint, /webhook\.test delivered 1 Each attempt HTTP 204/);
    assert.equal((await mainText(page)).match(/webhook\.test delivered/g).length, 1, 'one delivery');
    await look(page, 'webhook');

    const again = once(deliveries, 'delivery');
    await follow(page, page.getByRole('button', { name: 'Retry the webhook.test delivery' }));
    assert.match(await page.getByRole('status').innerText(), /Retrying/);
    const [retried] = await again;
    assert.equal(retried.headers['webhook-id'], delivery.headers['webhook-id'], 'the same message');
    await follow(page, page.getByRole('button', { name: 'Pause' }));
    assert.match(await mainText(page), /paused: disabled by its owner/);
    await follow(page, page.getByRole('link', { name: 'All endpoints' }));
    assert.match(await mainText(page), /lab pager token\.\* paused/);
  } finally {
    await context.close();
  }
});

test("a branch's owner makes a connect link that opens without signing in", async () => {
  const context = await browser.newContext();
  const guest = await browser.newContext();
  try {
    const page = await context.newPage();
    await signIn(page, server, server.users.root);
    await follow(page, page.getByRole('link', { name: 'Branches', exact: true }));
    await labelled(page, 'Client name').fill('Google (test)');
    await labelled(page, 'Client ID').fill('console-client');
    await labelled(page, 'Client secret').fill('console-secret');
    await follow(page, page.getByRole('button', { name: 'Add OAuth client' }));
    await labelled(page, 'Branch identifier').fill('riverside');
    await labelled(page, 'Branch name').fill('Riverside clinic');
    await follow(page, page.getByRole('button', { name: 'Add branch' }));
    const made = await follow(page, page.getByRole('button', { name: 'Connect link for Riverside clinic' }));
    assert.equal(made.status(), 201);
    await look(page, 'connect-link');
    const link = await page.locator('#connect-link').inputValue();
    assert.match(link, /\/connect\?token=/);

    const theirs = await guest.newPage();
    await theirs.goto(link);
    assert.match(await mainText(theirs), /Connect Riverside clinic/);
    assert.match(await mainText(theirs), /business\.manage/);
    await look(theirs, 'connect-page');
  } finally {
    await context.close();
    await guest.close();
  }
});
