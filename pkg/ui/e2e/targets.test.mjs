// The Targets page: targets by scrape pool, with health, last scrape and
// error.
import assert from 'node:assert/strict';
import { live, liveURL, screenshot, useBrowser } from './lib.mjs';

const b = useBrowser();

b.test('targets by scrape pool with health, last scrape and error', async (t) => {
  const { appJob, downJob } = live();
  const page = await b.open(t, 'targets', liveURL());
  const pool = (name) => page.locator(`.scrape-pool[data-pool="${name}"]`);
  await pool(appJob).waitFor();
  assert.deepEqual(await page.locator('.scrape-pool .pool-name').allTextContents(), [appJob, downJob]);
  assert.equal(await pool(appJob).locator('.up-count').textContent(), ' 1/1 up');
  assert.equal(await pool(downJob).locator('.up-count').textContent(), ' 0/1 up');

  const app = pool(appJob).locator('tr.target');
  assert.equal(await app.getAttribute('data-health'), 'up');
  assert.match(await app.locator('.last-scrape').textContent(), /ago|just now/);
  assert.match(await app.locator('.scrape-duration').textContent(), /s$/);
  assert.equal(await app.locator('.last-error').textContent(), '');
  assert.ok((await app.locator('.labels .badge').allTextContents()).includes(`job="${appJob}"`));

  const down = pool(downJob).locator('tr.target');
  assert.equal(await down.getAttribute('data-health'), 'down');
  assert.match(await down.locator('.last-error').textContent(), /connection refused/);
  assert.equal(await page.locator('.badge.replica').count(), 0);
  await screenshot(page, 'targets');

  await Promise.all([page.waitForResponse((r) => r.url().includes('dedup=false')), page.locator('input.dedup').uncheck()]);
  await pool(appJob).locator('tr.target').nth(1).waitFor();
  assert.equal(await pool(appJob).locator('.up-count').textContent(), ' 2/2 up');
  assert.deepEqual(await pool(downJob).locator('.badge.replica').allTextContents(), ['replica="r0"', 'replica="r1"']);
  await screenshot(page, 'targets-no-dedup');
});
