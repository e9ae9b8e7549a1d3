// Under --web.route-prefix every page, asset and API call stays below the
// prefix: the page's URLs are all relative to the <base href> the server sets.
import assert from 'node:assert/strict';
import { prefixURL, screenshot, series, useBrowser } from './lib.mjs';

const b = useBrowser();

b.test('the UI works under a route prefix', async (t) => {
  const base = prefixURL();
  const page = await b.open(t, 'stores', base);
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.locator('.store-group[data-type="sidecar"] tr.store').nth(1).waitFor();

  await page.locator('.navbar .nav-link[data-page="graph"]').click();
  await page.waitForURL(new URL('graph', base).href + '**');
  const panel = page.locator('.panel').first();
  await panel.locator('.cm-content').click();
  await page.keyboard.type('http_req');
  await page.locator('.cm-tooltip-autocomplete li', { hasText: 'http_requests_total' }).first().click();
  assert.equal(await panel.locator('.cm-content').textContent(), 'http_requests_total');
  await page.keyboard.press('Enter');
  await panel.locator('.result-table tbody tr').nth(series() - 1).waitFor();
  assert.equal(await panel.locator('.result-table tbody tr').count(), series());
  await screenshot(page, 'prefix-query');

  const outside = requested.filter((u) => !u.startsWith(base));
  assert.deepEqual(outside, [], 'requests outside the prefix');
  assert.ok(requested.some((u) => u.startsWith(base + 'api/v1/label/__name__/values')), `no metric names fetched: ${requested}`);
});
