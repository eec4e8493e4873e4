// The staff console in headless Chromium (Debian's /usr/bin/chromium), driven by
// playwright-core. Started by crates/cli/tests/it/browser.rs, which serves lineout on
// a manual clock with seeded staff and lines and passes BASE (the server's URL).
// Optional SCREENSHOTS=<dir> saves a PNG of each main page there.
//
// Exit code 0 when every journey passed; 1 otherwise (each failure is printed).

import { chromium } from 'playwright-core';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE = process.env.BASE;
const SHOTS = process.env.SCREENSHOTS || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(BASE, 'BASE must name the server');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Signs in with the keyboard only: type, Tab, type, Enter. */
async function signIn(page, username, lang = 'en') {
  await page.goto(`${BASE}/console/login`);
  await page.keyboard.press('Tab'); // the skip link
  await page.focus('#username');
  await page.keyboard.type(username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(`${username}-long-password`);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.ok(!page.url().includes('/console/login'), `${username} should be signed in (at ${page.url()})`);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('an agent verifies a customer in store and opens the cancellation, keyboard only', async (page) => {
  await signIn(page, 'agent1');
  assert.match(page.url(), /\/console\/intake$/);
  await page.focus('#msisdn');
  await page.keyboard.type('+1 415 555 0142');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(await page.textContent('#masked'), '••• ••• 0142');
  assert.equal(await page.textContent('#holder'), 'Li Wei');
  const body = await page.textContent('body');
  assert.ok(!body.includes('li@example.com'), 'no contact details before verification');
  await shot(page, 'console-intake');
  // Keyboard only: the select keeps its first option, then type into each field.
  await page.focus('#id_last4');
  await page.keyboard.type('K42Z');
  await page.focus('#id_expiry');
  await page.keyboard.type('01312030'); // mm dd yyyy in Chromium's date field (en-US)
  await page.focus('#attest');
  await page.keyboard.press('Space');
  await page.focus('#open-case');
  // Focus is visible: the focused button has an outline.
  const outline = await page.$eval('#open-case', (el) => getComputedStyle(el).outlineStyle);
  assert.notEqual(outline, 'none');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.match(page.url(), /\/console\/cases\/[^/]+$/, `at ${page.url()}: ${await page.textContent('main')}`);
  const timeline = await page.textContent('#timeline');
  assert.ok(timeline.includes('identity verified'), timeline);
  assert.ok(timeline.includes('staff stf_'), 'the event names the member of staff');
  await shot(page, 'console-case');
});

test('a reviewer approves the case from the review queue', async (page) => {
  await signIn(page, 'rev1');
  assert.match(page.url(), /\/console\/review$/);
  await shot(page, 'console-review-queue');
  const link = page.locator('table a').first();
  assert.equal(await link.count(), 1, 'the queue lists the case');
  await Promise.all([page.waitForNavigation(), link.click()]);
  await page.fill('#approve-note', 'ID checked in store');
  await Promise.all([page.waitForNavigation(), page.click('#approve')]);
  assert.equal((await page.textContent('#case-status')).trim(), 'approved');
  const timeline = await page.textContent('#timeline');
  assert.ok(timeline.includes('approved'), timeline);
});

test('each role is refused the others\' pages', async (page, browser) => {
  const pages = ['/console/intake', '/console/review', '/console/warehouse', '/console/overview'];
  const allowed = { agent1: ['/console/intake'], rev1: ['/console/review'], ware1: ['/console/warehouse'], admin1: pages };
  for (const [user, ok] of Object.entries(allowed)) {
    const context = await browser.newContext();
    const p = await context.newPage();
    await signIn(p, user);
    for (const path of pages) {
      const response = await p.goto(`${BASE}${path}`);
      if (ok.includes(path)) {
        assert.equal(response.status(), 200, `${user} ${path}`);
      } else {
        assert.equal(response.status(), 403, `${user} ${path}`);
        assert.equal(await p.textContent('#error-code'), 'role_forbidden');
      }
    }
    if (user === 'admin1') {
      await p.goto(`${BASE}/console/overview`);
      await shot(p, 'console-overview');
    }
    await context.close();
  }
});

test('a form post without a valid CSRF token is refused', async (page) => {
  await signIn(page, 'agent1');
  await page.goto(`${BASE}/console/intake?msisdn=%2B14155550143`);
  await page.$eval('form[action="/console/intake"][method=post] input[name=csrf]', (el) => { el.value = 'forged'; });
  await page.fill('#id_last4', 'A1B2');
  await page.fill('#id_expiry', '2031-05-01');
  await page.check('#attest');
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#open-case')]);
  assert.equal(response.status(), 403);
  assert.equal(await page.textContent('#error-code'), 'csrf_invalid');
});

test('the console speaks Chinese after the switch, and remembers it', async (page) => {
  await signIn(page, 'ware1');
  await Promise.all([page.waitForNavigation(), page.click('a[hreflang="zh-Hans"]')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-Hans');
  assert.ok((await page.textContent('h1')).includes('仓库'));
  await page.goto(`${BASE}/console/warehouse`);
  assert.ok((await page.textContent('h1')).includes('仓库'), 'the choice is remembered');
  await shot(page, 'console-warehouse-zh');
});

// playwright-core gives every launch a fresh, temporary user-data dir; HOME points at a
// throwaway directory so nothing of the machine's own profile is read.
const profile = mkdtempSync(join(tmpdir(), 'lineout-chromium-'));
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, env: { ...process.env, HOME: profile } });
let failed = 0;
try {
  for (const { name, fn } of tests) {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    try {
      await fn(page, browser);
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${String(e && e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${tests.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
