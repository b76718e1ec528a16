// Drives the Tollgate web console in headless Chromium (Debian's, via playwright-core) for
// tests/tests/console.rs, which starts the gateway and prepares the data. Every check throws
// on failure; the process exits non-zero with the failing step named.
//
// Environment:
//   TOLLGATE_URL      http://127.0.0.1:PORT
//   APPROVER_TOKEN    an approver(security) token for the staging promotions
//   AUDITOR_TOKEN     an auditor token
//   PROMOTION_ID      a pending promotion the approver approves here
//   OTHER_PROMOTION   a pending promotion the auditor tries to forge an approval of
//   SCHEDULED_PROMOTION a promotion scheduled for tomorrow (the release calendar shows it)
//   ARTIFACT_DIGEST   the artifact of PROMOTION_ID
//   SOURCE_COMMIT     the commit its provenance names
//   SBOM_PURL         a package URL its SBOM contains; SBOM_RANGE a version range matching it
//   SCREENSHOT_DIR    where screenshots go
//   CHROMIUM          the browser binary (default /usr/bin/chromium)

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`missing environment variable ${k}`);
  return v;
};
const BASE = env('TOLLGATE_URL');
const APPROVER = env('APPROVER_TOKEN');
const AUDITOR = env('AUDITOR_TOKEN');
const PROMOTION = env('PROMOTION_ID');
const OTHER = env('OTHER_PROMOTION');
const SCHEDULED = env('SCHEDULED_PROMOTION');
const DIGEST = env('ARTIFACT_DIGEST');
const COMMIT = env('SOURCE_COMMIT');
const PURL = env('SBOM_PURL');
const RANGE = env('SBOM_RANGE', '');
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

fs.mkdirSync(SHOTS, { recursive: true });
let step = 'start';
let current = null; // the page in use, for a screenshot when a step fails
const timings = {};
function check(cond, message) {
  if (!cond) throw new Error(`${step}: ${message}`);
}
async function shot(page, name, fullPage = true) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
async function timed(page, url) {
  const t0 = Date.now();
  const resp = await page.goto(BASE + url);
  timings[url.split('?')[0]] = Date.now() - t0;
  return resp;
}

async function signIn(page, token) {
  await page.goto(BASE + '/ui/');
  check(new URL(page.url()).pathname === '/ui/signin', `not sent to sign-in: ${page.url()}`);
  await page.fill('#token', token);
  await Promise.all([page.waitForURL(u => new URL(u).pathname === '/ui/'), page.click('button[type=submit]')]);
}

const args = ['--disable-dev-shm-usage', '--disable-gpu'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 });
const shots = [];
try {
  // --- keyboard: from the top of the sign-in page, Tab reaches the token field ----------------
  step = 'keyboard sign-in';
  const approverCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await approverCtx.newPage();
  page.setDefaultTimeout(20000);
  current = page;
  await page.goto(BASE + '/ui/');
  check(new URL(page.url()).pathname === '/ui/signin', `not sent to sign-in: ${page.url()}`);
  // The cookie never holds a token: none yet.
  check((await approverCtx.cookies()).length === 0, 'a cookie before sign-in');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip')),
    'the first Tab stop is not the skip link');
  let reached = false;
  for (let i = 0; i < 4 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.id === 'token');
  }
  check(reached, 'Tab never reached the token field');
  check(await page.evaluate(() => !!document.querySelector('label[for=token]')), 'token field has no label');
  shots.push(await shot(page, '01-sign-in'));
  await page.keyboard.type(APPROVER);
  await Promise.all([page.waitForURL(u => new URL(u).pathname === '/ui/'), page.keyboard.press('Enter')]);
  const cookies = await approverCtx.cookies();
  const session = cookies.find(c => c.name === 'tollgate_session');
  check(session, 'no session cookie');
  check(session.httpOnly && session.sameSite === 'Strict' && session.path === '/ui', `cookie flags ${JSON.stringify(session)}`);
  check(!session.value.includes(APPROVER) && !APPROVER.includes(session.value), 'the cookie carries the token');
  check(await page.evaluate(() => document.cookie === ''), 'the session cookie is readable from JavaScript');

  // --- the waiting promotions, with reason codes and buttons ----------------------------------
  step = 'pending list';
  await timed(page, '/ui/');
  const card = page.locator(`article[data-promotion="${PROMOTION}"]`);
  check(await card.count() === 1, `promotion ${PROMOTION} not listed as waiting`);
  check((await card.textContent()).includes('approvals-missing'), 'reason code approvals-missing not shown');
  check(await card.getByRole('button', { name: 'Approve' }).count() === 1, 'no Approve button for the approver');
  check(await card.getByRole('button', { name: 'Deny' }).count() === 1, 'no Deny button for the approver');
  shots.push(await shot(page, '02-promotions-waiting'));

  // --- SBOM search finds the artifact -------------------------------------------------------
  step = 'sbom search';
  await timed(page, '/ui/sbom');
  await page.fill('#purl', PURL);
  if (RANGE) await page.fill('#range', RANGE);
  await Promise.all([page.waitForURL(/\/ui\/sbom\?/), page.getByRole('button', { name: 'Search' }).click()]);
  const row = page.locator(`tr[data-artifact="${DIGEST}"]`);
  check(await row.count() >= 1, `artifact ${DIGEST} not found by ${PURL} ${RANGE}`);
  check(await page.locator('section.envgroup[data-environment="dev"]').count() === 1, 'results not grouped under dev');
  shots.push(await shot(page, '03-sbom-search'));

  // --- its evidence graph ---------------------------------------------------------------------
  step = 'evidence graph';
  await Promise.all([page.waitForURL(/\/ui\/artifacts\/sha256:/), row.first().locator('a.digest').click()]);
  const graph = page.locator('svg#evidence-graph');
  check(await graph.count() === 1, 'no evidence graph');
  for (const kind of ['source', 'job', 'builder', 'artifact', 'signature', 'attestation', 'sbom', 'promotion']) {
    check(await graph.locator(`g[data-node="${kind}"]`).count() >= 1, `graph has no ${kind} node`);
  }
  const sourceTitle = await graph.locator('g[data-node="source"] title').textContent();
  check(sourceTitle.includes(COMMIT), `source node does not name commit ${COMMIT}: ${sourceTitle}`);
  check(await graph.locator('g[data-node="signature"].ok').count() >= 1, 'signature not shown as verified');
  check(await graph.locator('path.edge').count() >= 6, 'graph edges missing');
  check(await graph.locator(`g[data-id="prm-${PROMOTION}"]`).count() === 1, 'the promotion is not in the graph');
  shots.push(await shot(page, '04-artifact-evidence-graph'));

  // --- approve it and see it move -------------------------------------------------------------
  step = 'approve';
  await Promise.all([page.waitForURL(new RegExp(`/ui/promotions/${PROMOTION}$`)),
    graph.locator(`g[data-id="prm-${PROMOTION}"]`).click()]);
  check((await page.locator('#state').textContent()).trim() === 'pending', 'not pending before approval');
  shots.push(await shot(page, '05-promotion-pending'));
  await page.fill(`#ac-${PROMOTION}`, 'reviewed in the console');
  await Promise.all([page.waitForURL(/done=approved/), page.getByRole('button', { name: 'Approve' }).click()]);
  check((await page.locator('#state').textContent()).trim() === 'promoted', `state after approval: ${await page.locator('#state').textContent()}`);
  check((await page.locator('[role=status]').first().textContent()).includes('approval was recorded'), 'no confirmation');
  check((await page.textContent('main')).includes('reviewed in the console'), 'approval comment not shown');
  shots.push(await shot(page, '06-promotion-promoted'));
  await timed(page, '/ui/');
  check(await page.locator(`article[data-promotion="${PROMOTION}"]`).count() === 0, 'still listed as waiting');

  // --- sign out ---------------------------------------------------------------------------------
  step = 'sign out';
  await Promise.all([page.waitForURL(/\/ui\/signin/), page.getByRole('button', { name: 'Sign out' }).click()]);
  await page.goto(BASE + '/ui/');
  check(new URL(page.url()).pathname === '/ui/signin', 'still signed in after sign-out');

  // --- auditor: sees everything, can change nothing -------------------------------------------
  step = 'auditor';
  const auditorCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const ap = await auditorCtx.newPage();
  ap.setDefaultTimeout(20000);
  current = ap;
  await signIn(ap, AUDITOR);
  check(await ap.locator(`article[data-promotion="${OTHER}"]`).count() === 1, 'auditor does not see the waiting promotion');
  check(await ap.getByRole('button', { name: 'Approve' }).count() === 0, 'auditor sees an Approve button');
  check(await ap.getByRole('button', { name: 'Deny' }).count() === 0, 'auditor sees a Deny button');
  await timed(ap, `/ui/promotions/${OTHER}`);
  check(await ap.locator('form.approve, form.reject').count() === 0, 'approve/reject forms rendered for the auditor');

  step = 'forged posts';
  // Posts with the auditor's session cookie (the browser context's cookie jar), as a forged
  // form would send them; the page's CSP forbids scripts from posting themselves.
  const forge = async (url, body) => {
    const r = await auditorCtx.request.post(BASE + url, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, data: body, maxRedirects: 0,
    });
    return { status: r.status(), text: await r.text() };
  };
  const csrf = await ap.evaluate(() => document.querySelector('input[name=csrf]').value);
  check(csrf.length >= 40, 'no CSRF token on the page');
  const approveUrl = `/ui/promotions/${OTHER}/approve`;
  let r = await forge(approveUrl, 'group=security');
  check(r.status === 403 && r.text.includes('csrf-invalid'), `without CSRF token: ${r.status}`);
  r = await forge(approveUrl, 'group=security&csrf=' + 'A'.repeat(43));
  check(r.status === 403 && r.text.includes('csrf-invalid'), `with a wrong CSRF token: ${r.status}`);
  r = await forge(approveUrl, 'group=security&comment=forged&csrf=' + encodeURIComponent(csrf));
  check(r.status === 403 && r.text.includes('role-missing'), `auditor with a valid CSRF token: ${r.status} ${r.text.slice(0, 200)}`);
  r = await forge(`/ui/promotions/${OTHER}/reject`, 'group=security&comment=forged&csrf=' + encodeURIComponent(csrf));
  check(r.status === 403 && r.text.includes('role-missing'), `auditor rejecting: ${r.status}`);
  // Without any session at all.
  const anon = await browser.newContext();
  const ar = await anon.request.post(BASE + approveUrl, { form: { group: 'security', csrf }, maxRedirects: 0 });
  check(ar.status() === 403, `without a session: ${ar.status()}`);
  await anon.close();
  await ap.reload();
  check((await ap.locator('#state').textContent()).trim() === 'pending', 'the forged posts changed the promotion');
  shots.push(await shot(ap, '07-auditor-promotion-readonly'));

  step = 'auditor pages';
  await timed(ap, '/ui/audit');
  check(await ap.locator('table.audit tbody tr').count() > 0, 'no audit entries');
  check((await ap.locator('#checkpoint-status').textContent()).includes('covers'), 'no checkpoint status');
  shots.push(await shot(ap, '08-audit-trail'));
  await timed(ap, '/ui/audit?action=promotion-approved');
  check((await ap.locator('table.audit').textContent()).includes('promotion-approved'), 'audit filter found no approval');
  await timed(ap, '/ui/reports/delivery?environment=staging&weeks=8');
  check(await ap.locator('svg.chart').count() === 4, 'delivery charts missing');
  check(await ap.locator('svg#deploys rect.bar').count() >= 1, 'no deployment bar for the promotion just made');
  shots.push(await shot(ap, '09-delivery-report'));
  step = 'release calendar';
  await timed(ap, '/ui/calendar?env=staging');
  check((await ap.locator('h1').textContent()).includes('Release calendar'), 'no calendar heading');
  check((await ap.textContent('main')).includes('Always open'), 'staging has no windows: it should say always open');
  check(await ap.locator(`a[href="/ui/promotions/${SCHEDULED}"]`).count() === 1, 'the scheduled promotion is not on the calendar');
  shots.push(await shot(ap, '10-release-calendar'));
  const ics = await ap.request.get(BASE + '/ui/calendar.ics?env=staging');
  check(ics.status() === 200 && (await ics.text()).startsWith('BEGIN:VCALENDAR\r\n'), `calendar export: ${ics.status()}`);
  check((await ics.text()).includes(SCHEDULED), 'the export lacks the scheduled promotion');
  await timed(ap, '/ui/reports/access-review');
  check((await ap.textContent('main')).includes('sec-lead'), 'access review lacks the approver token');
  shots.push(await shot(ap, '10b-access-review'));
  await timed(ap, `/ui/artifacts/${DIGEST}`);

  step = 'not found';
  const nf = await ap.goto(BASE + '/ui/no-such-page');
  check(nf.status() === 404, `404 page answered ${nf.status()}`);
  check((await ap.locator('h1').textContent()).includes('Not found'), 'no Not found heading');

  step = 'phone';
  await ap.setViewportSize({ width: 390, height: 844 });
  await ap.goto(BASE + '/ui/');
  const overflow = await ap.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `the promotions page scrolls sideways on a phone by ${overflow}px`);
  shots.push(await shot(ap, '11-phone-promotions'));
  await ap.goto(BASE + `/ui/artifacts/${DIGEST}`);
  const overflow2 = await ap.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow2 <= 1, `the artifact page scrolls sideways on a phone by ${overflow2}px (only the graph and tables may)`);
  shots.push(await shot(ap, '12-phone-artifact'));
  await auditorCtx.close();
  await approverCtx.close();
  console.log(JSON.stringify({ ok: true, screenshots: shots, timings_ms: timings }));
} catch (e) {
  console.error(`FAILED at ${step}: ${e.stack || e}`);
  if (current) {
    try {
      console.error(`page ${current.url()}:\n${(await current.textContent('main')).slice(0, 2000)}`);
      console.error(`screenshot: ${await shot(current, 'failure')}`);
    } catch (e2) {
      console.error(`no failure screenshot: ${e2}`);
    }
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
