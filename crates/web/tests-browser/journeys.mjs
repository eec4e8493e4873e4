// The customer portal and the staff console in headless Chromium (Debian's
// /usr/bin/chromium), driven by playwright-core. Started by
// crates/cli/tests/it/browser.rs, which serves lineout on a manual clock with seeded
// staff and lines and passes BASE (the server's URL) and INBOX (the test's "phone":
// GET $INBOX/latest-code?to=+1415… answers the last one-time code sent there).
// Optional SCREENSHOTS=<dir> saves a PNG of each main page there.
//
// Exit code 0 when every journey passed; 1 otherwise (each failure is printed).

import { chromium } from 'playwright-core';
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE = process.env.BASE;
const INBOX = process.env.INBOX;
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

/** The last code texted or mailed to `to`, waiting (bounded) for the worker to send it. */
async function codeFor(to, previous = '') {
  for (let i = 0; i < 100; i++) {
    const code = await (await fetch(`${INBOX}/latest-code?to=${encodeURIComponent(to)}`)).text();
    if (code && code !== previous) return code;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no new code for ${to}`);
}

/** Portal sign-in with the keyboard only: number, Enter, code, Enter. */
async function portalSignIn(page, number, e164) {
  await page.goto(`${BASE}/portal`);
  await page.focus('#msisdn');
  await page.keyboard.type(number);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const code = await codeFor(e164);
  await page.focus('#code');
  await page.keyboard.type(code);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(new URL(page.url()).pathname, '/portal', `signed in (at ${page.url()})`);
  return code;
}

/** Screens after sign-in: each navigation to a new page counts. */
function screenCounter(page) {
  const seen = [];
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) seen.push(new URL(frame.url()).pathname); });
  return seen;
}

test('a customer cancels a prepaid line in at most 4 screens, keyboard only, then withdraws', async (page) => {
  const signInCode = await portalSignIn(page, '(415) 555-0144', '+14155550144');
  const screens = screenCounter(page);
  screens.push('/portal');
  await shot(page, 'portal-my-line');
  // Screen 1 → 2: the cancel link, by keyboard.
  await page.focus('#cancel-line');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(new URL(page.url()).pathname, '/portal/cancel');
  const before = await page.textContent('main');
  for (const needed of ['Back up your data', '18.75 USD', 'never ask for payments', 'Number Transfer PIN']) {
    assert.ok(before.includes(needed), `screen 2 shows: ${needed}`);
  }
  // The submit button is in view without scrolling, on a phone.
  const box = await page.locator('#submit-cancel').boundingBox();
  assert.ok(box && box.y + box.height <= 844, `submit button in view (${JSON.stringify(box)})`);
  await shot(page, 'portal-before-cancel');
  await page.focus('#submit-cancel');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(new URL(page.url()).pathname, '/portal/confirm');
  const code = await codeFor('+14155550144', signInCode);
  await page.focus('#code');
  await page.keyboard.type(code);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(new URL(page.url()).pathname, '/portal/case');
  const distinct = screens.filter((p, i) => screens.indexOf(p) === i);
  assert.ok(distinct.length <= 4, `screens from sign-in to submitted: ${distinct.join(' → ')}`);
  assert.ok((await page.textContent('#case-status')).trim().length > 0);
  await shot(page, 'portal-case');
  // Withdraw.
  await page.focus('#withdraw');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.ok((await page.textContent('#next-step')).includes('withdrawn'));
});

test('the same in Chinese', async (page) => {
  await page.goto(`${BASE}/portal`);
  await Promise.all([page.waitForNavigation(), page.click('a[hreflang="zh-Hans"]')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-Hans');
  const signInCode = await portalSignIn(page, '4155550145', '+14155550145');
  await Promise.all([page.waitForNavigation(), page.click('#cancel-line')]);
  assert.ok((await page.textContent('h1')).includes('注销前请确认'));
  await shot(page, 'portal-before-cancel-zh');
  await Promise.all([page.waitForNavigation(), page.click('#submit-cancel')]);
  const code = await codeFor('+14155550145', signInCode);
  await page.fill('#code', code);
  await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
  assert.equal(new URL(page.url()).pathname, '/portal/case');
  assert.ok((await page.textContent('h1')).includes('您的注销申请'));
  await Promise.all([page.waitForNavigation(), page.click('#withdraw')]);
  assert.ok((await page.textContent('#next-step')).includes('已撤回'));
});

test('a message\'s authenticity code can be checked without signing in', async (page) => {
  await page.goto(`${BASE}/portal/authenticity`);
  await page.fill('#auth-code', 'NOTOURS123');
  const [response] = await Promise.all([page.waitForNavigation(), page.click('#check')]);
  assert.equal(response.status(), 404);
  assert.ok((await page.textContent('#auth-result')).includes('not one of ours'));
});

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
