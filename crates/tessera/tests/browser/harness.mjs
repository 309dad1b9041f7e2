// What every browser journey shares: a fresh server of its own, Debian's Chromium driven by
// playwright-core, and a look at every page (a screenshot, and axe-core's accessibility rules).
//
// scripts/browser.sh sets the environment: TESSERA_BIN (the binary under test), CHROMIUM (the
// browser; playwright-core never downloads one), BROWSER_MODULES (the node_modules folder holding
// playwright-core and axe-core) and SCREENSHOTS (where each page's picture goes).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

function setting(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run the journeys with scripts/browser.sh`);
  return value;
}

const modules = createRequire(join(setting('BROWSER_MODULES'), 'noop.js'));
const { chromium } = modules('playwright-core');
const AXE_SOURCE = readFileSync(modules.resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = setting('SCREENSHOTS');
mkdirSync(SCREENSHOTS, { recursive: true });

/** A password no test guesses by accident. */
function password() {
  return `pw-${randomBytes(12).toString('hex')}`;
}

/**
 * A fresh server on SQLite in a temporary folder, on a port the OS chooses, with `users` made by
 * the CLI (`{ alice: 'member', root: 'admin' }`). Answers `{ base, users, stop }`, where
 * `users.alice` is `{ username, password, role }`.
 */
export async function startServer(users = {}, env = {}) {
  const bin = setting('TESSERA_BIN');
  const work = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
  const serverEnv = {
    PATH: process.env.PATH,
    HOME: work,
    TESSERA_ADDR: '127.0.0.1:0',
    TESSERA_DATA_DIR: join(work, 'data'),
    DATABASE_URL: `sqlite://${join(work, 'data', 'tessera.db')}`,
    SECRET_KEY: randomBytes(32).toString('hex'),
    LOG_FORMAT: 'json',
    RUST_LOG: 'info',
    ...env,
  };
  mkdirSync(serverEnv.TESSERA_DATA_DIR);
  const cli = (args, extra = {}) => {
    const run = spawnSync(bin, args, { cwd: work, env: { ...serverEnv, ...extra }, encoding: 'utf8' });
    assert.equal(run.status, 0, `tessera ${args.join(' ')} failed:\n${run.stderr}`);
    return run.stdout;
  };
  cli(['migrate']);
  const made = {};
  for (const [username, role] of Object.entries(users)) {
    const secret = password();
    cli(['users', 'create', '--username', username, '--email', `${username}@example.com`, '--role', role], {
      TESSERA_PASSWORD: secret,
    });
    made[username] = { username, password: secret, role };
  }

  const server = spawn(bin, [], { cwd: work, env: serverEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  const base = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: server.stderr });
    lines.on('line', (line) => {
      log.push(line);
      const addr = line.includes('listening') && JSON.parse(line).fields?.addr;
      if (addr) resolve(`http://${addr}`);
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${log.join('\n')}`)));
  });
  return {
    base,
    users: made,
    cli,
    log,
    async stop() {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      // A graceful stop drains connections; a browser's idle keep-alive ones may hold it.
      const hard = setTimeout(() => server.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(hard);
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: setting('CHROMIUM'),
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/**
 * Looks at the page as it is: saves a screenshot named `name` and runs axe-core's rules on it;
 * a serious or critical violation fails the journey. Needs a page that runs script (axe-core
 * is script).
 */
export async function look(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(AXE_SOURCE);
  const { violations } = await page.evaluate(() =>
    globalThis.axe.run(document, { resultTypes: ['violations'] }),
  );
  const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    grave.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target).join(', ')}`),
    [],
    `accessibility violations on ${name} (${page.url()})`,
  );
}

/** Clicks `target` (a locator) and waits for the page it leads to; answers that page's response. */
export async function follow(page, target) {
  const [response] = await Promise.all([page.waitForNavigation(), target.click()]);
  return response;
}

/** Signs `user` in through the sign-in form, starting at `path`. */
export async function signIn(page, server, user, path = '/') {
  await page.goto(`${server.base}${path}`);
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  const response = await follow(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(response.status(), 200, await page.content());
}

/** The text of the page's main region, whitespace collapsed. */
export async function mainText(page) {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ');
}

/** The form field labelled exactly `label` (a required field's label ends in "(required)"). */
export function labelled(page, label) {
  const exact = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return page.getByLabel(new RegExp(`^${exact}( \\(required\\))?$`));
}
