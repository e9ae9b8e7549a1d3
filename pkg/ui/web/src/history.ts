// Query history, kept in localStorage so it survives reloads, newest first.

const key = 'tandem.queryHistory';
const max = 50;

export function loadHistory(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export function remember(expr: string): void {
  const e = expr.trim();
  if (!e) return;
  const list = [e, ...loadHistory().filter((x) => x !== e)].slice(0, max);
  try {
    localStorage.setItem(key, JSON.stringify(list));
  } catch {
    // Storage full or disabled: history is a convenience, not state.
  }
}

export function clearHistory(): void {
  localStorage.removeItem(key);
}
