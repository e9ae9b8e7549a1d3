// Calls to the query's Prometheus-compatible HTTP API. Every URL is
// relative to the page's <base href>, which the server sets to its prefix.

export interface Envelope<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
  infos?: string[];
}

// apiURL is the absolute URL of an API path such as "query", resolved
// against the base the server injected.
export function apiURL(path: string): string {
  return new URL('api/v1/' + path, document.baseURI).href;
}

// serverBase is the base URL without its trailing slash, the form
// codemirror-promql's client wants (it appends /api/v1/...).
export function serverBase(): string {
  return new URL('.', document.baseURI).href.replace(/\/$/, '');
}

// call GETs (no params) or form-POSTs (params) an API path and returns the
// envelope. Failures that never reached the API (network, a proxy's HTML
// error page) come back as error envelopes too, so callers show one shape.
export async function call<T>(
  path: string,
  params?: URLSearchParams,
  signal?: AbortSignal,
): Promise<Envelope<T>> {
  return request<T>(apiURL(path), params ? { method: 'POST', body: params, signal } : { signal });
}

// get GETs an API path with params in the URL, for the endpoints that
// take no POST (rules, alerts, targets).
export async function get<T>(path: string, params: URLSearchParams, signal?: AbortSignal): Promise<Envelope<T>> {
  const url = new URL(apiURL(path));
  url.search = params.toString();
  return request<T>(url.href, { signal });
}

async function request<T>(url: string, init: RequestInit): Promise<Envelope<T>> {
  let resp: Response;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    return { status: 'error', errorType: 'network', error: String((e as Error).message ?? e) };
  }
  const text = await resp.text();
  try {
    return JSON.parse(text) as Envelope<T>;
  } catch {
    return {
      status: 'error',
      errorType: 'http',
      error: `${resp.status} ${resp.statusText}: ${text.slice(0, 500)}`,
    };
  }
}
