const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/**
 * Parses `"1500"`, `"500ms"`, `"30s"`, `"2m"`, `"1h"` or `"1d"` into whole milliseconds.
 * Returns `undefined` for anything else, so callers can report the bad value in their own words.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = (match[2] ?? 'ms') as Unit;
  const ms = Math.round(amount * UNIT_MS[unit]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Formats milliseconds in the largest unit that divides them exactly: `1000` → `"1s"`, `90000` → `"90s"`, `120000` → `"2m"`. */
export function formatDuration(ms: number): string {
  const units: Unit[] = ['d', 'h', 'm', 's'];
  for (const unit of units) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
