/** cac turns a repeated option into an array; like most CLIs, labvm takes the last value given. */
export function lastValues<T extends Record<string, unknown>>(options: T): T {
  return Object.fromEntries(Object.entries(options).map(([key, value]) =>
    [key, key !== '--' && Array.isArray(value) ? value[value.length - 1] : value])) as T;
}
