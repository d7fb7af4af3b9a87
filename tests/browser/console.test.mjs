// The console (/ui/) in a real, headless Chromium against a real userd: sign-in both ways,
// search, filters, counts per state, pages, back/forward, a user's state actions with their
// history and ZITADEL's error text, metadata, creating a user through the form, deleting one
// through the confirmation dialog, and a phone-sized screen without horizontal scrolling.
//
// USERD_BIN names the binary (default ../../target/debug/userd); CHROMIUM the browser
// (default /usr/bin/chromium, Debian's package). Screenshots go to target/console-screenshots,
// and also to docs/ with UPDATE_SCREENSHOTS=1. Every wait is bounded; the whole run is killed
// after TOTAL_TIMEOUT_MS, and the server is stopped however the run ends.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const root = resolve(here, '../..');
const bin = process.env.USERD_BIN ?? join(root, 'target/debug/userd');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shotsDir = join(root, 'target/console-screenshots');
const docsDir = join(root, 'docs');
const updateDocs = process.env.UPDATE_SCREENSHOTS === '1';
const TOTAL_TIMEOUT_MS = 150_000;
const STEP_TIMEOUT_MS = 10_000;

// No auth key configured, so the server uses its development secret and offers development
// sign-in; USERD_CONSOLE_DIR (serving the console's files from disk) is passed through.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('USERD_') || k === 'USERD_CONSOLE_DIR'));
env.USERD_LOG__LEVEL = 'warn';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A bound on a wait that does not keep the process alive by itself. */
const bound = (ms) => new Promise((r) => setTimeout(r, ms).unref());
const dir = mkdtempSync(join(tmpdir(), 'userd-console-'));
const dataDir = join(dir, 'data');
let server;
let browser;

/** Stops the server (waiting up to 5 s for it to go) and removes its data. */
async function cleanup() {
  if (server && server.exitCode === null && server.signalCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGKILL');
    await Promise.race([gone, bound(5_000)]);
  }
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', () => { if (server && server.exitCode === null) server.kill('SIGKILL'); });
const watchdog = setTimeout(async () => {
  console.error(`FAIL: the run took longer than ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanup();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
watchdog.unref();

// ---- the data: 25 seeded schema users in two organizations, 4 humans made through the API ----

const seedLines = [];
for (let i = 1; i <= 15; i++) {
  const n = String(i).padStart(2, '0');
  seedLines.push({ userId: `s-acme-${n}`, organization: { orgId: 'acme' }, schemaId: 'person', data: { name: `Acme Person ${n}` }, contact: { email: { address: `acme${n}@acme.test` } } });
}
for (let i = 1; i <= 10; i++) {
  const n = String(i).padStart(2, '0');
  seedLines.push({ userId: `s-globex-${n}`, organization: { orgId: 'globex' }, schemaId: 'person', data: { name: `Globex Person ${n}` }, contact: { email: { address: `globex${n}@globex.test` } } });
}
const humans = [
  { org: 'acme', username: 'ada', givenName: 'Ada', familyName: 'Lovelace', email: 'ada@acme.test', verified: true },
  { org: 'acme', username: 'grace', givenName: 'Grace', familyName: 'Hopper', email: 'grace.hopper@navy.test', verified: true, then: 'lock' },
  { org: 'globex', username: 'linus', givenName: 'Linus', familyName: 'Torvalds', email: 'linus@globex.test', verified: false },
  { org: 'globex', username: 'margaret', givenName: 'Margaret', familyName: 'Hamilton', email: 'margaret@globex.test', verified: true, then: 'deactivate' },
];
// What the console must count.
const ALL = { All: 29, Active: 26, Inactive: 1, Locked: 1, Initial: 1 };
const ACME = { All: 17, Active: 16, Inactive: 0, Locked: 1, Initial: 0 };
const GLOBEX = { All: 12, Active: 10, Inactive: 1, Locked: 0, Initial: 1 };

// ---- helpers ----

/** Retries `check` (which asserts) until it passes or `timeout` runs out; then its last error. */
async function eventually(check, timeout = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(50);
  }
}

async function startServer() {
  const seed = join(dir, 'seed.jsonl');
  writeFileSync(seed, seedLines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  server = spawn(bin, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, '--seed', seed], { env, cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise((resolveUrl, reject) => {
    const lines = createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('listening on ')) resolveUrl(line.slice('listening on '.length).trim());
    });
    server.on('exit', (code) => reject(new Error(`userd exited with ${code} before listening`)));
    setTimeout(() => reject(new Error('userd did not start within 15 s')), 15_000).unref();
  });
  return started;
}

function mintToken(sub) {
  return execFileSync(bin, ['token', '--data-dir', dataDir, '--sub', sub, '--role', 'IAM_OWNER'], { env, cwd: dir, timeout: 10_000 }).toString().trim();
}

async function call(base, token, method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const json = await r.json();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
}

/** The chips' numbers, e.g. {All: 29, Active: 26, ...}. */
async function counts(page) {
  const chips = await page.locator('.chips a').evaluateAll((links) => links.map((a) => [a.querySelector('.chip-label').textContent, Number(a.querySelector('.chip-count').textContent)]));
  return Object.fromEntries(chips);
}

async function expectCounts(page, want, what) {
  await eventually(async () => assert.deepEqual(await counts(page), want, `counts ${what}`));
}

/** The user ids of the table's rows, and the pager's "x–y of N". */
async function listing(page) {
  return {
    ids: await page.locator('table.users tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.userId)),
    range: (await page.locator('.pager .range').textContent()).trim(),
  };
}

async function expectListing(page, check, what) {
  await eventually(async () => {
    const l = await listing(page);
    check(l);
    return l;
  }).catch(async (e) => {
    e.message = `${what}: ${e.message} (now ${JSON.stringify(await listing(page))})`;
    throw e;
  });
}

async function search(page, text) {
  const box = page.getByRole('searchbox', { name: 'Search' });
  await box.fill(text);
  await box.press('Enter');
}

async function timeline(page) {
  return page.locator('ol.timeline > li').evaluateAll((items) => items.map((li) => ({ type: li.dataset.eventType, title: li.querySelector('.event-title').textContent, sequence: Number(li.dataset.sequence) })));
}

async function badgeText(page) {
  return (await page.locator('.user-head .badge').textContent()).trim();
}

async function noHorizontalScroll(page, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  const viewport = page.viewportSize().width;
  assert.ok(width <= viewport, `${what}: the page is ${width}px wide in a ${viewport}px viewport`);
}

/** axe-core's WCAG 2.1 A and AA rules and best practices find nothing on the page as it is
 *  (axe is evaluated through the debugging protocol, which the page's CSP does not govern). */
async function accessible(page, what) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  const problems = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(problems, [], `accessibility of ${what}`);
}

/** A screenshot of the viewport from the top of the page, without focus rings or the status. */
async function screenshot(page, name) {
  await page.evaluate(() => {
    document.activeElement?.blur();
    document.getElementById('status').textContent = '';
    window.scrollTo(0, 0);
  });
  const file = join(shotsDir, name);
  await page.screenshot({ path: file });
  if (updateDocs) copyFileSync(file, join(docsDir, name));
}

const steps = [];
async function step(name, work) {
  const t0 = Date.now();
  await work();
  steps.push(name);
  console.log(`ok ${steps.length} - ${name} (${Date.now() - t0} ms)`);
}

// ---- the run ----

async function run() {
  const t0 = Date.now();
  const base = await startServer();
  const admin = mintToken('console-test-setup');
  for (const u of humans) {
    const made = await call(base, admin, 'POST', '/v2/users/human', {
      organization: { orgId: u.org },
      username: u.username,
      profile: { givenName: u.givenName, familyName: u.familyName },
      email: { email: u.email, isVerified: u.verified },
    });
    u.id = made.userId;
    if (u.then) await call(base, admin, 'POST', `/v2/users/${u.id}/${u.then}`, {});
  }
  const ada = humans[0];

  mkdirSync(shotsDir, { recursive: true });
  if (updateDocs) mkdirSync(docsDir, { recursive: true });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'UTC', colorScheme: 'light' });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  // Anything the page logs as an error (a CSP violation, a failed load, an exception) fails the run.
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(`exception: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  // ...except the 4xx answers the test provokes on purpose, which Chromium logs as failed loads.
  const expectedFailures = /status of (400|401|404|409)/;

  await step('pasted token: signs in, shows who, signs out', async () => {
    await page.goto(`${base}/ui/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Development sign-in' }).waitFor();
    await accessible(page, 'the sign-in page');
    // A bad token is refused with ZITADEL's text, next to the form.
    await page.getByLabel('Bearer token').fill('not-a-token');
    await page.getByLabel('Bearer token').press('Enter');
    await eventually(async () => assert.match(await page.locator('section [role=alert]').textContent(), /Token is invalid \(AUTH-7fs1e\)/));
    await page.getByLabel('Bearer token').fill(mintToken('pasted-token-person'));
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await eventually(async () => assert.match(await page.locator('#session-who').textContent(), /Signed in as pasted-token-person/));
    await expectCounts(page, ALL, 'after the pasted token');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'signing out forgets the token');
  });

  await step('development sign-in', async () => {
    await page.getByRole('button', { name: 'Development sign-in' }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await eventually(async () => assert.match(await page.locator('#session-who').textContent(), /Signed in as userd-console/));
    // The token survives a reload (sessionStorage), and the page keeps its route.
    await page.reload();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
  });

  await step('counts per state, state and organization filters, pages, back and forward', async () => {
    await expectCounts(page, ALL, 'everyone');
    await expectListing(page, (l) => assert.equal(l.range, '1–20 of 29'), 'first page');
    await accessible(page, 'the users');
    await page.getByLabel('State', { exact: true }).selectOption({ label: 'Locked' });
    await expectListing(page, (l) => assert.deepEqual([l.ids, l.range], [[humans[1].id], '1–1 of 1']), 'locked');
    const org = page.getByLabel('Organization id');
    await org.fill('acme');
    await org.press('Enter');
    await expectCounts(page, ACME, 'acme');
    await expectListing(page, (l) => assert.deepEqual(l.ids, [humans[1].id]), 'locked in acme');
    await page.getByLabel('State', { exact: true }).selectOption({ label: 'Any state' });
    await expectListing(page, (l) => assert.equal(l.range, '1–17 of 17'), 'acme');
    await page.getByLabel('Per page').selectOption('10');
    await expectListing(page, (l) => assert.deepEqual([l.ids.length, l.range], [10, '1–10 of 17']), 'acme page 1');
    const firstPage = (await listing(page)).ids;
    await page.getByRole('button', { name: 'Next page' }).click();
    await expectListing(page, (l) => assert.deepEqual([l.ids.length, l.range], [7, '11–17 of 17']), 'acme page 2');
    const secondPage = (await listing(page)).ids;
    assert.equal(new Set([...firstPage, ...secondPage]).size, 17, 'the two pages hold 17 different users');
    assert.ok(await page.getByRole('button', { name: 'Next page' }).isDisabled(), 'no page after the last');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Previous page', 'the focus moves to the pager\'s other button');
    // Back returns to page 1 (the route is in the hash), forward to page 2.
    await page.goBack();
    await expectListing(page, (l) => assert.deepEqual(l.ids, firstPage), 'back to page 1');
    await page.goForward();
    await expectListing(page, (l) => assert.deepEqual(l.ids, secondPage), 'forward to page 2');
    await page.getByRole('button', { name: 'Previous page' }).click();
    await expectListing(page, (l) => assert.equal(l.range, '1–10 of 17'), 'previous');
    // A chip filters by its state: globex's initial user.
    await org.fill('globex');
    await org.press('Enter');
    await expectCounts(page, GLOBEX, 'globex');
    await page.getByRole('link', { name: /^Initial\s+1$/ }).click();
    await expectListing(page, (l) => assert.deepEqual([l.ids, l.range], [[humans[2].id], '1–1 of 1']), 'initial in globex');
    assert.equal(await page.getByLabel('State', { exact: true }).inputValue(), 'USER_STATE_INITIAL', 'the select follows the chip');
    assert.equal(await page.getByRole('link', { name: /^Initial\s+1$/ }).getAttribute('aria-current'), 'true');
    await page.getByRole('button', { name: 'Clear' }).click();
    await expectCounts(page, ALL, 'cleared');
    await expectListing(page, (l) => assert.equal(l.range, '1–20 of 29'), 'cleared');
  });

  await step('search by username, email (also a seeded user\'s) and id', async () => {
    await search(page, 'ADA');
    await expectListing(page, (l) => assert.deepEqual([l.ids, l.range], [[ada.id], '1–1 of 1']), 'username, any case');
    await expectCounts(page, { All: 1, Active: 1, Inactive: 0, Locked: 0, Initial: 0 }, 'of the search');
    await search(page, 'grace.hopper@navy');
    await expectListing(page, (l) => assert.deepEqual(l.ids, [humans[1].id]), 'email');
    await search(page, 'globex07@');
    await expectListing(page, (l) => assert.deepEqual(l.ids, ['s-globex-07']), 'a seeded user\'s email');
    await eventually(async () => assert.equal(await page.locator('table.users tbody tr td[data-label=Email]').textContent(), 'globex07@globex.test'));
    await search(page, humans[3].id);
    await expectListing(page, (l) => assert.deepEqual(l.ids, [humans[3].id]), 'id');
    await search(page, 'no-such-person');
    await expectListing(page, (l) => assert.deepEqual([l.ids, l.range], [[], '0 of 0']), 'nothing');
    assert.ok(await page.getByText('No users match.').isVisible());
    await search(page, 'ada@acme.test');
    await expectListing(page, (l) => assert.deepEqual(l.ids, [ada.id]), 'ada by email');
    // By keyboard: the row's link, Enter; the new page's heading takes the focus.
    await page.getByRole('link', { name: 'ada', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'ada', level: 1 }).waitFor();
    await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.id), 'user-title'));
    assert.equal(await page.evaluate(() => location.hash), `#/users/${ada.id}`);
    await eventually(async () => assert.equal(await badgeText(page), 'Active'));
    await eventually(async () => assert.ok((await timeline(page)).length >= 1));
    await accessible(page, 'a user');
  });

  await step('deactivate, reactivate, and reactivating again shows ZITADEL\'s error', async () => {
    const before = await timeline(page);
    assert.deepEqual(before.map((e) => e.type), ['user.human.added']);
    await page.getByRole('button', { name: 'Deactivate', exact: true }).click();
    await eventually(async () => assert.equal(await badgeText(page), 'Inactive'));
    await eventually(async () => {
      const after = await timeline(page);
      assert.equal(after.length, before.length + 1, 'one more change');
      assert.deepEqual(after[0], { type: 'user.deactivated', title: 'Deactivated', sequence: 2 });
    });
    assert.equal(await page.locator('.user-head .badge').getAttribute('data-state'), 'USER_STATE_INACTIVE');
    await eventually(async () => assert.match(await page.getByRole('status').textContent(), /ada deactivated/));
    await page.getByRole('button', { name: 'Reactivate', exact: true }).click();
    await eventually(async () => assert.equal(await badgeText(page), 'Active'));
    await eventually(async () => assert.deepEqual((await timeline(page))[0], { type: 'user.reactivated', title: 'Reactivated', sequence: 3 }));
    const alert = page.locator('[data-ref=actionsAlert]');
    assert.equal(await alert.getAttribute('role'), 'alert');
    await page.getByRole('button', { name: 'Reactivate', exact: true }).click();
    await eventually(async () => assert.equal(await alert.textContent(), 'User is not inactive (COMMAND-s5qqcz97hf)'));
    assert.equal(await badgeText(page), 'Active', 'a refused action changes nothing');
    assert.equal((await timeline(page)).length, 3, 'and writes no history');
    // The next successful action clears the error.
    await page.getByRole('button', { name: 'Lock', exact: true }).click();
    await eventually(async () => assert.equal(await badgeText(page), 'Locked'));
    assert.equal(await alert.textContent(), '');
    await page.getByRole('button', { name: 'Unlock', exact: true }).click();
    await eventually(async () => assert.equal(await badgeText(page), 'Active'));
  });

  await step('metadata: set, shown decoded, in the history', async () => {
    await page.getByLabel('Key').fill('team');
    await page.getByLabel('Value').fill('analytical engines ✓');
    await page.getByLabel('Value').press('Enter');
    const row = page.locator('table.metadata tbody tr');
    await eventually(async () => assert.deepEqual(await row.locator('th, td').allTextContents(), ['team', 'analytical engines ✓', 'Remove']));
    await eventually(async () => assert.equal((await timeline(page))[0].type, 'user.metadata.set'));
    const stored = await call(base, admin, 'POST', `/v2/users/${ada.id}/metadata/search`, {});
    assert.equal(Buffer.from(stored.metadata[0].value, 'base64').toString(), 'analytical engines ✓');
  });

  await step('changes: email with a returned code, phone, password rules, profile', async () => {
    const editAlert = page.locator('[data-ref=editAlert]');
    await page.getByText('Email', { exact: true }).and(page.locator('summary')).click();
    const emailForm = page.locator('form[data-form=email]');
    await eventually(async () => assert.equal(await emailForm.getByLabel('Email').inputValue(), 'ada@acme.test', 'the form starts from the current address'));
    await emailForm.getByLabel('Email').fill('ada.lovelace@acme.test');
    await emailForm.getByLabel(/The address is verified/).uncheck();
    await emailForm.getByRole('button', { name: 'Change email' }).click();
    await eventually(async () => assert.match(await page.getByRole('status').textContent(), /^Email changed\. Verification code: [A-Z0-9]{6}$/));
    await eventually(async () => assert.match(await page.locator('dl[data-ref=contact]').textContent(), /ada\.lovelace@acme\.test\s*not verified/));
    await page.locator('summary', { hasText: 'Phone' }).click();
    const phoneForm = page.locator('form[data-form=phone]');
    await phoneForm.getByLabel('Phone').fill('079 123 45 67');
    await phoneForm.getByLabel('Phone').press('Enter');
    await eventually(async () => assert.match(await page.locator('dl[data-ref=contact]').textContent(), /\+41791234567\s*verified/));
    await page.locator('summary', { hasText: 'Password' }).click();
    const passwordForm = page.locator('form[data-form=password]');
    await passwordForm.getByLabel('New password').fill('short');
    await passwordForm.getByLabel('New password').press('Enter');
    await eventually(async () => assert.equal(await editAlert.textContent(), 'Password is too short (DOMAIN-HuJf6)'));
    await passwordForm.getByLabel('New password').fill('Analytical-Engine-1843');
    await passwordForm.getByLabel('New password').press('Enter');
    await eventually(async () => assert.equal((await timeline(page))[0].type, 'user.human.password.changed'));
    assert.equal(await editAlert.textContent(), '', 'success clears the error');
    await page.locator('summary', { hasText: 'Username and profile' }).click();
    const profileForm = page.locator('form[data-form=profile]');
    await profileForm.getByLabel('Display name').fill('Countess of Lovelace');
    await profileForm.getByRole('button', { name: 'Save profile' }).click();
    await eventually(async () => assert.match(await page.locator('dl[data-ref=profile]').textContent(), /Display nameCountess of Lovelace/));
    await eventually(async () => assert.deepEqual((await timeline(page)).slice(0, 5).map((e) => e.type),
      ['user.human.profile.changed', 'user.human.password.changed', 'user.human.phone.changed', 'user.human.email.code.added', 'user.human.email.changed']));
    while (await page.locator('details[open]').count()) await page.locator('details[open] > summary').first().click();
  });

  await step('desktop screenshots', async () => {
    await screenshot(page, 'console-user-desktop.png');
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await expectCounts(page, ALL, 'back on the list');
    await expectListing(page, (l) => assert.equal(l.range, '1–20 of 29'), 'back on the list');
    await screenshot(page, 'console-users-desktop.png');
  });

  let hedyId;
  await step('create a user through the form, then find it', async () => {
    await page.getByRole('link', { name: 'New user' }).first().click();
    await page.getByRole('heading', { name: 'New user', level: 1 }).waitFor();
    await accessible(page, 'the new user form');
    await page.getByLabel('Organization id').fill('globex');
    await page.getByLabel('Username').fill('hedy');
    await page.getByLabel('Given name').fill('Hedy');
    await page.getByLabel('Family name').fill('Lamarr');
    await page.getByLabel('Email', { exact: true }).fill('hedy@globex.test');
    await page.getByLabel('Email', { exact: true }).press('Enter');
    await page.getByRole('heading', { name: 'hedy', level: 1 }).waitFor();
    hedyId = decodeURIComponent((await page.evaluate(() => location.hash)).replace('#/users/', ''));
    await eventually(async () => assert.equal(await badgeText(page), 'Active'));
    await eventually(async () => assert.match(await page.getByRole('status').textContent(), /User hedy created/));
    // A taken username is ZITADEL's error, shown in the form.
    await page.getByRole('link', { name: 'New user' }).first().click();
    await page.getByLabel('Organization id').fill('globex');
    await page.getByLabel('Username').fill('hedy');
    await page.getByLabel('Given name').fill('Hedy');
    await page.getByLabel('Family name').fill('Again');
    await page.getByLabel('Email', { exact: true }).fill('hedy2@globex.test');
    await page.getByRole('button', { name: 'Create user' }).click();
    await eventually(async () => assert.equal(await page.locator('form [role=alert]').textContent(), 'User already exists (V3-DKcYh)'));
    // And a machine user.
    await page.getByLabel('Machine (service account)').check();
    await page.getByLabel('Username').fill('build-bot');
    await page.getByLabel('Name', { exact: true }).fill('Build bot');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('heading', { name: 'build-bot', level: 1 }).waitFor();
    await eventually(async () => assert.deepEqual((await timeline(page)).map((e) => e.type), ['user.machine.added']));
    // Both are found in the list.
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await search(page, 'hedy');
    await expectListing(page, (l) => assert.deepEqual(l.ids, [hedyId]), 'the new user');
    await page.getByLabel('Organization id').fill('globex');
    await page.getByLabel('Organization id').press('Enter');
    await expectCounts(page, { All: 1, Active: 1, Inactive: 0, Locked: 0, Initial: 0 }, 'hedy in globex');
    await page.getByRole('button', { name: 'Clear' }).click();
    await expectCounts(page, { ...ALL, All: ALL.All + 2, Active: ALL.Active + 2 }, 'with two new users');
  });

  await step('delete through the confirmation dialog (Escape cancels), and it is gone', async () => {
    await page.goto(`${base}/ui/#/users/${encodeURIComponent(hedyId)}`);
    await page.getByRole('heading', { name: 'hedy', level: 1 }).waitFor();
    const dialog = page.getByRole('dialog', { name: 'Delete this user?' });
    const deleteButton = page.getByRole('button', { name: 'Delete…' });
    await deleteButton.click();
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /hedy \(id \d+\) will be deleted/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'the focus starts on Cancel');
    await accessible(page, 'the delete dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Delete…', 'the focus returns to the button'));
    assert.equal(await badgeText(page), 'Active', 'Escape deletes nothing');
    await deleteButton.click();
    await dialog.getByRole('button', { name: 'Delete user' }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await eventually(async () => assert.match(await page.getByRole('status').textContent(), /hedy deleted/));
    await search(page, 'hedy');
    await expectListing(page, (l) => assert.deepEqual([l.ids, l.range], [[], '0 of 0']), 'deleted');
    await page.goto(`${base}/ui/#/users/${encodeURIComponent(hedyId)}`);
    await page.getByRole('heading', { name: 'User not found' }).waitFor();
    assert.match(await page.locator('[data-ref=loadAlert]').textContent(), /User could not be found/);
  });

  await step('phone: no horizontal scrolling, screenshots', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/ui/#/users`);
    await expectCounts(page, { ...ALL, All: ALL.All + 1, Active: ALL.Active + 1 }, 'on a phone');
    await expectListing(page, (l) => assert.equal(l.range, '1–20 of 30'), 'on a phone');
    await noHorizontalScroll(page, 'users');
    await accessible(page, 'the users on a phone');
    await screenshot(page, 'console-users-phone.png');
    await page.locator(`tr[data-user-id="${ada.id}"] a`).click();
    await page.getByRole('heading', { name: 'ada', level: 1 }).waitFor();
    await eventually(async () => assert.equal((await timeline(page))[0]?.type, 'user.human.profile.changed'));
    await noHorizontalScroll(page, 'a user');
    await accessible(page, 'a user on a phone');
    await screenshot(page, 'console-user-phone.png');
  });

  await step('an expired session goes back to sign-in with the reason', async () => {
    await page.evaluate(() => {
      const saved = JSON.parse(sessionStorage.getItem('userd.console.session'));
      saved.token = 'expired.garbage.token';
      sessionStorage.setItem('userd.console.session', JSON.stringify(saved));
    });
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await eventually(async () => assert.match(await page.locator('section [role=alert]').textContent(), /You were signed out: Token is invalid/));
  });

  const unexpected = pageErrors.filter((e) => !expectedFailures.test(e));
  assert.deepEqual(unexpected, [], 'no errors in the page (content security policy, scripts)');
  console.log(`# ${steps.length} steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

try {
  await run();
} catch (e) {
  console.error(`FAIL after ${steps.length} passing steps:`, e);
  process.exitCode = 1;
} finally {
  await Promise.race([browser?.close().catch(() => {}), bound(10_000)]);
  await cleanup();
  clearTimeout(watchdog);
}
