// The Stores page: both sidecars, their health and label sets; a stopped
// sidecar turns unhealthy after the query's next Info check.
import assert from 'node:assert/strict';
import { control, poll, screenshot, sidecars, useBrowser } from './lib.mjs';

const b = useBrowser();

// The query checks every endpoint every 5 s; allow for a few rounds and
// gRPC's reconnection backoff.
const checkDeadline = 90_000;

const row = (page, addr) => page.locator(`.store-group[data-type="sidecar"] tr.store[data-endpoint="${addr}"]`);

b.test('both sidecars are listed healthy with their label sets', async (t) => {
  const page = await b.open(t, 'stores');
  const group = page.locator('.store-group[data-type="sidecar"]');
  await group.waitFor();
  assert.equal(await group.locator('tr.store').count(), 2);
  for (const [i, addr] of sidecars().entries()) {
    const r = row(page, addr);
    assert.equal(await r.locator('.health').textContent(), 'Up');
    assert.deepEqual(await r.locator('.label-sets .badge').allTextContents(), [`replica="r${i}"`]);
    assert.equal(await r.locator('.last-error').textContent(), '');
    assert.match(await r.locator('.min-time').textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.match(await r.locator('.last-check').textContent(), /ago|just now/);
  }
  assert.match(await group.locator('h2').textContent(), /sidecar 2\/2 up/);
  await screenshot(page, 'stores');
});

b.test('a stopped sidecar shows as unhealthy with its error, and recovers', async (t) => {
  const page = await b.open(t, 'stores');
  const [, second] = sidecars();
  const health = row(page, second).locator('.health');
  await health.waitFor();
  assert.equal(await health.textContent(), 'Up');

  await control('stop');
  let restarted = false;
  t.after(async () => {
    if (!restarted) await control('start');
  });
  // The page refreshes itself; no reload needed.
  await poll('stopped sidecar shown down', checkDeadline, async () => assert.equal(await health.textContent(), 'Down'));
  assert.notEqual(await row(page, second).locator('.last-error').textContent(), '');
  assert.equal(await row(page, sidecars()[0]).locator('.health').textContent(), 'Up');
  assert.match(await page.locator('.store-group h2').textContent(), /1\/2 up/);
  await screenshot(page, 'stores-one-down');

  await control('start');
  restarted = true;
  await poll('restarted sidecar shown up', checkDeadline, async () => assert.equal(await health.textContent(), 'Up'));
});
