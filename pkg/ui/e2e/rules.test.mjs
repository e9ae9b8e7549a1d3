// The Rules page: every group with its rules' health, last evaluation and
// errors.
import assert from 'node:assert/strict';
import { live, liveURL, screenshot, useBrowser } from './lib.mjs';

const b = useBrowser();

b.test('groups with health, last evaluation and errors', async (t) => {
  const { group, brokenGroup, recording, broken, firing } = live();
  const page = await b.open(t, 'rules', liveURL());
  const g = (name) => page.locator(`.rule-group[data-group="${name}"]`);
  await g(group).waitFor();
  assert.equal(await page.locator('.rule-group').count(), 2);
  assert.match(await g(group).locator('summary').textContent(), /every 1s, last evaluated (\d+s ago|just now)/);
  assert.equal(await g(group).locator('tr.rule').count(), 3);

  const row = (name) => page.locator(`tr.rule[data-name="${name}"]`);
  assert.equal(await row(recording).getAttribute('data-health'), 'ok');
  assert.match(await row(recording).locator('.last-evaluation').textContent(), /ago|just now/);
  assert.match(await row(recording).locator('pre.query').textContent(), /sum by \(job\)/);
  assert.match(await row(firing).locator('.rule-name').textContent(), /^alert: /);
  assert.equal(await row(broken).getAttribute('data-health'), 'err');
  assert.match(await row(broken).locator('.last-error').textContent(), /same labelset after applying rule labels/);
  assert.equal(await g(brokenGroup).locator('tr.rule').count(), 1);
  assert.equal(await page.locator('.badge.replica').count(), 0);
  await screenshot(page, 'rules');

  await page.goto(new URL('rules?dedup=false', page.url()).href);
  await row(broken).nth(1).waitFor();
  assert.deepEqual(await row(broken).locator('.badge.replica').allTextContents(), ['replica="r0"', 'replica="r1"']);
  assert.equal(await g(group).locator('tr.rule').count(), 6);
  await screenshot(page, 'rules-no-dedup');
});
