/** A flag's value that is not what the flag takes: main prints it and exits 2. */
export class FlagError extends Error {}

/** `value` of `--flag` as seconds (fractions allowed), at least `min`. Throws a FlagError naming both. */
export function parseSeconds(flag: string, value: string, min: number): number {
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds < min)
    throw new FlagError(`--${flag} ${value} is not a number of seconds >= ${min}`);
  return seconds;
}

const units: Record<string, number> = {
  "": 1,
  k: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gib: 1024 ** 3,
};

/** `value` of `--flag` as bytes: a whole number, optionally with a unit (`32MiB`, `25M`, `512KiB`). */
export function parseBytes(flag: string, value: string): number {
  const match = /^(\d+)\s*(|k|kib|m|mib|g|gib)b?$/i.exec(value.trim());
  const unit = units[match?.[2]?.toLowerCase() ?? "none"];
  if (!match || unit === undefined || Number(match[1]) < 1)
    throw new FlagError(`--${flag} ${value} is not a size in bytes >= 1 (e.g. 33554432, 32MiB, 25MB)`);
  return Number(match[1]) * unit;
}
