// The Status page: build information and flags from the API.
import assert from 'node:assert/strict';
import { api, screenshot, useBrowser } from './lib.mjs';

const b = useBrowser();

b.test('build information and flags are shown as the API returns them', async (t) => {
  const page = await b.open(t, 'status');
  await page.locator('.flags table').waitFor();
  const build = await api('status/buildinfo');
  for (const [k, v] of Object.entries(build.data)) {
    assert.equal(await page.locator(`.build-info tr[data-key="${k}"] td`).textContent(), v);
  }
  const flags = await api('status/flags');
  assert.equal(await page.locator('.flags tbody tr').count(), Object.keys(flags.data).length);
  assert.equal(await page.locator('.flags tr[data-key="query.replica-label"] td').textContent(), 'replica');
  await screenshot(page, 'status');

  const licenses = await page.request.get(await page.locator('a[href="static/licenses.txt"]').evaluate((a) => a.href));
  assert.equal(licenses.status(), 200);
  assert.match(await licenses.text(), /@prometheus-io\/codemirror-promql [\d.]+ \(Apache-2\.0\)/);

  await page.locator('.flags .filter').fill('replica');
  assert.deepEqual(await page.locator('.flags tbody tr:visible th').allTextContents(), ['query.replica-label']);
});
