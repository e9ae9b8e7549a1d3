// Shared setup of the browser tests. The Go test (browser_test.go) starts
// Prometheus, the sidecars and the queries, and passes them in:
//
//   UI_URL          the query's UI, e.g. http://127.0.0.1:1234/
//   UI_PREFIX_URL   a query run with --web.route-prefix, e.g. http://127.0.0.1:1235/tandem/
//   UI_CONTROL_URL  POST <url>stop or <url>start stops or restarts the second sidecar
//   UI_SIDECARS     the sidecars' gRPC addresses, comma-separated, replica r0 first
//   UI_SERIES       how many series http_requests_total has per replica
//   UI_LIVE_URL     the UI of a query over two more replicas that evaluate rules and scrape live
//   UI_LIVE         the names of those replicas' rules, groups and scrape pools (JSON)
//   UI_CHROMIUM     the browser binary
//   UI_ARTIFACTS    where screenshots go
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run these tests through go test ./pkg/ui/`);
  return v;
}

export const uiURL = () => env('UI_URL');
export const prefixURL = () => env('UI_PREFIX_URL');
export const sidecars = () => env('UI_SIDECARS').split(',');
export const series = () => Number(env('UI_SERIES'));
export const liveURL = () => env('UI_LIVE_URL');
export const live = () => JSON.parse(env('UI_LIVE'));

// Playwright's default of 30 s per wait; the stores tests wait longer.
export const timeout = 30_000;

// control asks the Go test to stop or start the second sidecar.
export async function control(action) {
  const r = await fetch(new URL(action, env('UI_CONTROL_URL')), { method: 'POST' });
  assert.equal(r.status, 200, `control ${action}: ${r.status} ${await r.text()}`);
}

// api calls the query's HTTP API the way the UI does and returns the
// envelope, to compare what the page shows with what the server said.
export async function api(path, params) {
  const url = new URL('api/v1/' + path, uiURL());
  const r = await (params ? fetch(url, { method: 'POST', body: new URLSearchParams(params) }) : fetch(url));
  return r.json();
}

// useBrowser launches one browser for the file's tests. Its test() is
// node:test's, except that a failing test leaves a screenshot of each page
// it opened (failed-<test>-<n>.png); open() gives the test a fresh page
// with an empty localStorage, and errors the page throws fail the test.
export function useBrowser() {
  let browser;
  let pages = [];
  before(async () => {
    browser = await chromium.launch({ executablePath: env('UI_CHROMIUM'), headless: true });
  });
  after(async () => {
    await browser?.close();
  });
  return {
    test(name, fn) {
      test(name, async (t) => {
        pages = [];
        try {
          await fn(t);
        } catch (e) {
          const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
          for (const [i, page] of pages.entries()) await screenshot(page, `failed-${slug}-${i}`).catch(() => {});
          throw e;
        }
      });
    },
    // open loads path, relative to base (UI_URL by default).
    async open(t, path, base = uiURL()) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(timeout);
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      t.after(async () => {
        await context.close();
        assert.deepEqual(errors, [], 'the page threw');
      });
      pages.push(page);
      await page.goto(new URL(path, base).href);
      return page;
    },
  };
}

// screenshot saves the page as <UI_ARTIFACTS>/<name>.png.
export async function screenshot(page, name) {
  const dir = env('UI_ARTIFACTS');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name + '.png'), fullPage: true });
}

// poll retries check until it passes or the deadline passes; the last
// failure is the one reported.
export async function poll(what, ms, check) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: not true after ${ms} ms: ${e.message}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
