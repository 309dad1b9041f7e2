// FCS files in the console: the sample's histograms, an upload with progress that lands on the
// file's page, a file the engine refuses, and deleting.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { follow, launchBrowser, look, mainText, signIn, startServer } from './harness.mjs';

let browser;
let server;
before(async () => {
  browser = await launchBrowser();
  server = await startServer({ lab: 'member' });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signedInPage(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, server, server.users.lab);
  return { context, page };
}

test('the sample has a histogram per channel, on its display scale', async () => {
  const { context, page } = await signedInPage();
  try {
    await follow(page, page.getByRole('link', { name: 'FCS files', exact: true }));
    await look(page, 'fcs');
    await follow(page, page.locator('main table a').first());
    const plots = page.locator('figure.plot svg[role="img"]');
    assert.equal(await plots.count(), 26);
    // Axis labels name the channel ($PnN, with $PnS) and its scale.
    const text = await mainText(page);
    assert.match(text, /FSC-A · linear/);
    assert.match(text, /FL1-A \([^)]+\) · log/);
    assert.match(await plots.first().locator('title').textContent(), /^Histogram of FSC-H, linear scale: \d+ events in 100 bins$/);
    assert.match(text, /Statistics/);
    await look(page, 'fcs-sample');
  } finally {
    await context.close();
  }
});

test('a lab analyses the sample: a logicle density plot, a gate by numbers, its statistics, an export', async () => {
  const { context, page } = await signedInPage({ acceptDownloads: true });
  try {
    await page.goto(`${server.base}/fcs/sample`);
    await page.getByLabel('Plot', { exact: true }).selectOption('density');
    await page.getByLabel('X channel').selectOption('FL1-A');
    await page.getByLabel(/^Y channel/).selectOption('SSC-A');
    await page.getByLabel('Scale', { exact: true }).selectOption('scaled');
    await page.getByLabel(/^Transform/).selectOption('logicle');
    await follow(page, page.getByRole('button', { name: 'Show' }));
    const query = new URL(page.url()).searchParams;
    assert.equal(query.get('kind'), 'density');
    assert.equal(query.get('transform'), 'logicle');
    const plot = page.getByRole('img', { name: /density of FL1-A against SSC-A/ });
    await plot.waitFor();
    // The image really loaded: an SVG the browser could draw.
    assert.ok(await plot.evaluate((img) => img.complete && img.naturalWidth > 0));
    await look(page, 'fcs-analysis');

    // A rectangle on what the plot shows: logicle 0.3–0.9 on FL1-A, SSC-A below 3 million.
    await page.getByLabel('Name', { exact: true }).fill('FL1 positive');
    await page.getByLabel('Shape', { exact: true }).selectOption('rectangle');
    await page.getByLabel('x min').fill('0.3');
    await page.getByLabel('x max').fill('0.9');
    await page.getByLabel('y max').fill('3000000');
    await follow(page, page.getByRole('button', { name: 'Save gate' }));
    assert.equal(new URL(page.url()).searchParams.get('transform'), 'logicle', 'the view is kept');
    const text = await mainText(page);
    assert.match(text, /Statistics of FL1 positive/);
    assert.match(text, /FL1 positive FL1-A in \[0\.3000, 0\.9000\) × SSC-A in \[−∞, 3\.000e6\), scaled, logicle \d+ \d+\.\d\d %/);
    await look(page, 'fcs-gate');

    // A bound that is not a number is refused, and says so.
    await page.getByLabel('Name', { exact: true }).fill('broken');
    await page.getByLabel('x min').fill('a lot');
    await follow(page, page.getByRole('button', { name: 'Save gate' }));
    assert.match(await page.getByRole('alert').innerText(), /x min: “a lot” is not a number/);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'CSV' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /-export\.csv$/);

    const [image] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'PNG image' }).click(),
    ]);
    assert.equal(image.suggestedFilename(), 'plot.png');
    const bytes = await readFile(await image.path());
    assert.deepEqual([...bytes.subarray(1, 4)], [...Buffer.from('PNG')]);
  } finally {
    await context.close();
  }
});

test('an upload shows its progress, opens the file, and can be deleted', async () => {
  const path = join(tmpdir(), `tessera-browser-${process.pid}.fcs`);
  server.cli(['fcs', 'synth', path]);
  const { context, page } = await signedInPage();
  try {
    await page.goto(`${server.base}/fcs`);
    await page.getByLabel(/FCS file/).setInputFiles(path);
    await Promise.all([
      page.waitForURL(/\/fcs\/[0-9a-f-]{36}$/),
      page.getByRole('button', { name: 'Upload' }).click(),
    ]);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), `tessera-browser-${process.pid}.fcs`);
    assert.equal(await page.locator('figure.plot svg').count(), 26);
    await look(page, 'fcs-upload');

    await follow(page, page.getByRole('link', { name: 'Delete', exact: true }));
    await look(page, 'fcs-delete');
    await follow(page, page.getByRole('button', { name: 'Delete' }));
    assert.equal(new URL(page.url()).pathname, '/fcs');
    assert.doesNotMatch(await mainText(page), /tessera-browser-/);
  } finally {
    await context.close();
  }
});

test('a file the engine refuses is refused with its reason, with or without script', async () => {
  const path = join(tmpdir(), `not-fcs-${process.pid}.fcs`);
  writeFileSync(path, 'this is not a flow cytometry file');
  for (const javaScriptEnabled of [true, false]) {
    const { context, page } = await signedInPage({ javaScriptEnabled });
    try {
      await page.goto(`${server.base}/fcs`);
      await page.getByLabel(/FCS file/).setInputFiles(path);
      await page.getByRole('button', { name: 'Upload' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /too short for an FCS HEADER/);
      // axe-core runs as script: only where the page runs script.
      if (javaScriptEnabled) await look(page, 'fcs-refused');
    } finally {
      await context.close();
    }
  }
});
