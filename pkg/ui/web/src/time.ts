// Durations and times as Prometheus's UI writes them: durations like
// "1h30m", times as "YYYY-MM-DD HH:MM:SS" in UTC.

const units: [string, number][] = [
  ['y', 365 * 24 * 3600e3],
  ['w', 7 * 24 * 3600e3],
  ['d', 24 * 3600e3],
  ['h', 3600e3],
  ['m', 60e3],
  ['s', 1e3],
  ['ms', 1],
];

// parseDuration returns milliseconds, or null for text that is not a
// positive duration. A bare number is seconds, as the API takes it.
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000) || null;
  const re = /(\d+)(ms|y|w|d|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) return null;
    consumed += m[0].length;
    total += parseInt(m[1], 10) * units.find(([u]) => u === m[2])![1];
  }
  return consumed === s.length && total > 0 ? total : null;
}

export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let out = '';
  for (const [u, size] of units) {
    const n = Math.floor(ms / size);
    if (n > 0) {
      out += n + u;
      ms -= n * size;
    }
  }
  return out;
}

// parseTime returns Unix milliseconds for "YYYY-MM-DD HH:MM[:SS]" (UTC),
// RFC 3339 or Unix seconds; null for empty text (meaning "now") and NaN for
// text it cannot read.
export function parseTime(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return NaN;
  if (m[8]) return Date.parse(s.replace(' ', 'T'));
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0));
}

const pad = (n: number) => String(n).padStart(2, '0');

export function formatTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

// ago says how long before now a time was, e.g. "3s ago".
export function ago(ms: number, now = Date.now()): string {
  const d = now - ms;
  if (d < 1000) return 'just now';
  return formatDuration(Math.round(d / 1000) * 1000) + ' ago';
}
