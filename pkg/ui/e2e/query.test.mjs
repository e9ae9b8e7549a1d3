// The expression browser's Table tab: completion, running, the dedup and
// partial-response switches, state in the URL, history, errors.
import assert from 'node:assert/strict';
import { api, poll, screenshot, series, useBrowser } from './lib.mjs';

const b = useBrowser();

const rows = (panel) => panel.locator('.result-table tbody tr');
const editor = (panel) => panel.locator('.cm-content');

// typeAndExecute types an expression into the panel's empty editor and
// clicks Execute (Enter could land on a completion list still opening).
async function typeAndExecute(page, panel, expr) {
  await editor(panel).click();
  await page.keyboard.type(expr);
  await panel.locator('.execute').click();
}

b.test('completion offers the metric, Enter runs it, dedup off shows both replicas', async (t) => {
  const page = await b.open(t, 'graph');
  const panel = page.locator('.panel').first();
  await editor(panel).click();
  await page.keyboard.type('http_req');
  const option = page.locator('.cm-tooltip-autocomplete li', { hasText: 'http_requests_total' });
  await option.first().waitFor();
  await screenshot(page, 'query-autocomplete');
  // A click, not Enter: keys pressed within CodeMirror's interaction delay
  // after the list opens go to the editor, so a quick Enter would run
  // "http_req" as typed.
  await option.first().click();
  assert.equal(await editor(panel).textContent(), 'http_requests_total');
  await page.keyboard.press('Enter');
  await rows(panel).nth(series() - 1).waitFor();
  assert.equal(await rows(panel).count(), series());
  assert.doesNotMatch(await panel.locator('.result-table').textContent(), /replica=/);
  assert.match(await panel.locator('.result-info').textContent(), new RegExp(`Result series: ${series()}\\b`));
  assert.match(await panel.locator('.result-info').textContent(), /Load time: \d+ms/);
  assert.match(page.url(), /g0\.expr=http_requests_total/);
  assert.match(page.url(), /g0\.dedup=1/);
  await screenshot(page, 'query-table');

  const dedup = panel.locator('.dedup input');
  assert.equal(await dedup.isChecked(), true);
  await dedup.uncheck();
  await rows(panel).nth(2 * series() - 1).waitFor();
  assert.equal(await rows(panel).count(), 2 * series());
  const text = await panel.locator('.result-table').textContent();
  assert.equal(text.match(/replica="r0"/g)?.length, series());
  assert.equal(text.match(/replica="r1"/g)?.length, series());
  assert.match(page.url(), /g0\.dedup=0/);
  await screenshot(page, 'query-table-no-dedup');

  // The URL alone reproduces the view.
  const again = await b.open(t, page.url());
  const panel2 = again.locator('.panel').first();
  await rows(panel2).nth(2 * series() - 1).waitFor();
  assert.equal(await rows(panel2).count(), 2 * series());
  assert.equal(await panel2.locator('.dedup input').isChecked(), false);
  assert.equal(await editor(panel2).textContent(), 'http_requests_total');
});

b.test('the switches are sent as dedup and partial_response', async (t) => {
  const page = await b.open(t, 'graph?g0.expr=vector(1)&g0.tab=table');
  const panel = page.locator('.panel').first();
  await rows(panel).first().waitFor();
  // Each click's query, once answered (so none cancels the one before).
  const sent = [];
  for (const click of [
    () => panel.locator('.partial input').uncheck(),
    () => panel.locator('.dedup input').uncheck(),
    () => panel.locator('.partial input').check(),
  ]) {
    const [resp] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/v1/query')), click()]);
    const p = new URLSearchParams(resp.request().postData() ?? '');
    sent.push([p.get('dedup'), p.get('partial_response')]);
  }
  assert.deepEqual(sent, [
    ['true', 'false'],
    ['false', 'false'],
    ['false', 'true'],
  ]);
  assert.match(page.url(), /g0\.dedup=0&g0\.partial_response=1/);
});

b.test('a bad expression shows the server error; infos are shown as returned', async (t) => {
  const page = await b.open(t, 'graph');
  const panel = page.locator('.panel').first();
  const bad = 'http_requests_total +';
  await typeAndExecute(page, panel, bad);
  const want = await api('query', { query: bad });
  assert.equal(want.status, 'error');
  const alert = panel.locator('.alert-error');
  await alert.waitFor();
  assert.equal(await alert.textContent(), `${want.errorType}: ${want.error}`);
  await screenshot(page, 'query-error');

  // rate() of a metric not named like a counter: PromQL answers with an info.
  const info = 'rate(temperature_celsius[5m])';
  await page.goto(new URL('graph?g0.expr=' + encodeURIComponent(info), page.url()).href);
  const infoWant = await api('query', { query: info });
  assert.ok(infoWant.infos?.length, `the server gave no infos for ${info}: ${JSON.stringify(infoWant)}`);
  const shown = page.locator('.panel .alert-info');
  await shown.first().waitFor();
  assert.deepEqual(await shown.allTextContents(), infoWant.infos.map((i) => 'Info: ' + i));
});

b.test('panels can be added and removed; all of them are in the URL; history remembers', async (t) => {
  const page = await b.open(t, 'graph?g0.expr=http_requests_total');
  await rows(page.locator('.panel').first()).first().waitFor();
  await page.locator('.add-panel').click();
  const second = page.locator('.panel').nth(1);
  await typeAndExecute(page, second, 'count(http_requests_total)');
  await rows(second).first().waitFor();
  assert.equal(await second.locator('.result-table .value').textContent(), String(series()));
  assert.match(page.url(), /g1\.expr=count%28http_requests_total%29/);

  // The page builds its panels from the URL after it loads: wait for them.
  const again = await b.open(t, page.url());
  await rows(again.locator('.panel').nth(1)).first().waitFor();
  assert.equal(await again.locator('.panel').count(), 2);
  await again.locator('.panel').first().locator('.remove').click();
  await poll('one panel left, first in the URL', 5000, async () => {
    assert.equal(await again.locator('.panel').count(), 1);
    assert.match(again.url(), /g0\.expr=count/);
    assert.doesNotMatch(again.url(), /g1\./);
  });

  // History is the browser's: the page that ran both queries lists them.
  await page.locator('.panel').first().locator('.history summary').click();
  const items = await page.locator('.panel').first().locator('.history-list li').allTextContents();
  assert.deepEqual(items.slice(0, 2), ['count(http_requests_total)', 'http_requests_total']);
});

b.test('Shift+Enter adds a line; Enter runs the whole expression', async (t) => {
  const page = await b.open(t, 'graph');
  const panel = page.locator('.panel').first();
  await editor(panel).click();
  await page.keyboard.type('vector(1)');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('+ 2');
  assert.equal(await panel.locator('.cm-line').count(), 2);
  assert.equal(await panel.locator('.result-info').textContent(), '');
  await page.keyboard.press('Escape');
  await page.keyboard.press('Enter');
  await rows(panel).first().waitFor();
  assert.equal(await panel.locator('.result-table .value').textContent(), '3');
  assert.equal(await panel.locator('.cm-line').count(), 2);
});
