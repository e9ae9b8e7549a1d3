// The Graph tab: a range query drawn by uPlot, its range, end and step
// controls, stacking and the hover legend.
import assert from 'node:assert/strict';
import { poll, screenshot, series, timeout, useBrowser } from './lib.mjs';

const b = useBrowser();

// The first series' colours in graph.ts's palette.
const colours = [[0x1f, 0x77, 0xb4], [0xff, 0x7f, 0x0e], [0x2c, 0xa0, 0x2c]];

// colourPixels counts, per colour, the canvas pixels close to it: each
// series drawn leaves many; a blank or axes-only canvas leaves none.
function colourPixels(page) {
  return page.locator('.graph canvas').evaluate((c, colours) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const counts = colours.map(() => 0);
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 200) continue;
      colours.forEach(([r, g, b], k) => {
        if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40) counts[k]++;
      });
    }
    return counts;
  }, colours.slice(0, series()));
}

// rangeQuery does what changes a setting and returns the parameters of the
// range query it caused, once its answer is in. (Waiting keeps each query
// from cancelling the one before: that is the UI's job, but not this test's.)
async function rangeQuery(page, action) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/query_range')),
    action(),
  ]);
  return Object.fromEntries(new URLSearchParams(resp.request().postData() ?? ''));
}

// setInput types into one of the panel's inputs and leaves it, which
// commits the value.
const setInput = (page, cls, value) => async () => {
  await page.locator(`.panel input.${cls}`).fill(value);
  await page.locator(`.panel input.${cls}`).press('Tab');
};

b.test('a range query is drawn, with values under the cursor', async (t) => {
  const page = await b.open(t, 'graph?g0.expr=http_requests_total&g0.tab=graph&g0.range_input=1h');
  const graph = page.locator('.graph canvas');
  await graph.waitFor();
  const counts = await colourPixels(page);
  for (const [i, n] of counts.entries()) assert.ok(n > 100, `series ${i} left ${n} pixels of its colour: ${counts}`);
  assert.match(await page.locator('.result-info').textContent(), new RegExp(`Resolution: 14s.*Result series: ${series()}`));

  const legend = page.locator('.graph .u-legend tr.u-series');
  assert.equal(await legend.count(), series() + 1); // the time, then each series
  assert.match(await legend.nth(1).locator('th').textContent(), /http_requests_total\{instance="host-0", job="web"\}/);
  const box = await page.locator('.graph .u-over').boundingBox();
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
  await poll('legend shows values', timeout, async () => {
    for (let i = 1; i <= series(); i++) {
      assert.match(await legend.nth(i).locator('.u-value').textContent(), /^\d+(\.\d+)?$/);
    }
  });
  await screenshot(page, 'graph');
});

b.test('range, end, step and stacking are sent and kept in the URL', async (t) => {
  const page = await b.open(t, 'graph?g0.expr=http_requests_total&g0.tab=graph&g0.range_input=1h');
  await page.locator('.graph canvas').waitFor();
  let sent = await rangeQuery(page, setInput(page, 'range', '30m'));
  assert.equal(sent.end - sent.start, 1800);
  assert.equal(sent.step, '7');

  sent = await rangeQuery(page, setInput(page, 'step', '1m'));
  assert.equal(sent.step, '60');

  // The end is UTC; the graph ends there.
  const end = new Date(Date.now() - 15 * 60e3);
  end.setUTCSeconds(0, 0);
  const endText = end.toISOString().slice(0, 19).replace('T', ' ');
  sent = await rangeQuery(page, setInput(page, 'end', endText));
  assert.equal(Number(sent.end), end.getTime() / 1000);
  assert.equal(sent.end - sent.start, 1800);

  await rangeQuery(page, () => page.locator('.panel .display-mode').selectOption('stacked'));
  await poll('stacked graph drawn', timeout, async () => {
    const counts = await colourPixels(page);
    for (const [i, n] of counts.entries()) assert.ok(n > 100, `series ${i}: ${n} pixels: ${counts}`);
  });
  for (const want of ['g0.range_input=30m', 'g0.step_input=1m', 'g0.stacked=1', 'g0.end_input=' + encodeURIComponent(endText).replace(/%20/g, '+')]) {
    assert.ok(page.url().includes(want), `${page.url()} lacks ${want}`);
  }
  await screenshot(page, 'graph-stacked');

  // The + and - buttons walk the presets.
  sent = await rangeQuery(page, () => page.locator('.panel .range-group button[title="Longer range"]').click());
  assert.equal(await page.locator('.panel input.range').inputValue(), '1h');
  assert.equal(sent.end - sent.start, 3600);
});
