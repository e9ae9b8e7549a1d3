// The Alerts page: both replicas' alerting rules, merged, by state, with
// their labels, annotations and active alerts; with Deduplication off,
// each replica's copy, saying which replica it is.
import assert from 'node:assert/strict';
import { live, liveURL, screenshot, useBrowser } from './lib.mjs';

const b = useBrowser();

b.test('alerting rules by state, with labels, annotations and active alerts', async (t) => {
  const { firing, silent } = live();
  const page = await b.open(t, 'alerts', liveURL());
  const rule = (name) => page.locator(`.alert-rule[data-name="${name}"]`);
  await rule(firing).waitFor();
  assert.equal(await page.locator('.alert-rule').count(), 2);
  assert.equal(await rule(firing).getAttribute('data-state'), 'firing');
  assert.equal(await rule(silent).getAttribute('data-state'), 'inactive');
  assert.equal(await rule(firing).locator('.count').textContent(), ' (1 active)');
  assert.equal(await rule(silent).locator('.count').textContent(), ' (0 active)');
  for (const [state, n] of [['firing', 1], ['pending', 0], ['inactive', 1]]) {
    assert.match(await page.locator(`.state-count[data-state="${state}"]`).textContent(), new RegExp(`\\(${n}\\)$`));
  }
  assert.equal(await page.locator('.badge.replica').count(), 0, 'deduplicated, no entry names a replica');

  await rule(firing).locator('summary').click();
  const instance = rule(firing).locator('tr.instance');
  assert.equal(await instance.count(), 1);
  assert.deepEqual(await instance.locator('.labels .badge').allTextContents(), [`alertname="${firing}"`, 'severity="page"']);
  assert.match(await instance.locator('dl.annotations').textContent(), /summaryFires as long as rules are evaluated/);
  assert.match(await instance.locator('.active-at').textContent(), /ago|just now/);
  assert.match(await rule(firing).locator('.rule-body > dl.annotations').textContent(), /Fires as long as rules are evaluated/);
  assert.equal(await rule(firing).locator('pre.query').textContent(), 'vector(1)');
  await screenshot(page, 'alerts');

  // The state filter hides what is not chosen.
  await page.locator('.state-count[data-state="firing"] input').uncheck();
  assert.equal(await rule(firing).count(), 0);
  assert.equal(await rule(silent).count(), 1);
});

b.test('without deduplication every replica says which it is', async (t) => {
  const { firing } = live();
  const page = await b.open(t, 'alerts', liveURL());
  await page.locator('.alert-rule').first().waitFor();
  await Promise.all([page.waitForResponse((r) => r.url().includes('dedup=false')), page.locator('input.dedup').uncheck()]);
  const copies = page.locator(`.alert-rule[data-name="${firing}"]`);
  await copies.nth(1).waitFor();
  assert.deepEqual(await copies.locator('.badge.replica').allTextContents(), ['replica="r0"', 'replica="r1"']);
  assert.match(page.url(), /dedup=false/);
  const want = await fetch(new URL('api/v1/rules?type=alert&dedup=false', page.url())).then((r) => r.json());
  const rules = want.data.groups.flatMap((g) => g.rules);
  assert.equal(await page.locator('.alert-rule').count(), rules.length);
  await screenshot(page, 'alerts-no-dedup');

  // The switch is in the URL: a reload keeps it.
  await page.reload();
  await copies.nth(1).waitFor();
  assert.equal(await page.locator('input.dedup').isChecked(), false);
});
