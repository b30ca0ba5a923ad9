/**
 * A stable handle on something a hook replaces for every test: property reads go to whatever
 * `get` returns at that moment, so tests use it as the thing itself.
 */
export function live<T extends object>(get: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_target, property) {
      const current = get();
      if (current === undefined) throw new Error(`${what} is not there yet (use it inside a test or hook)`);
      const value: unknown = Reflect.get(current, property, current);
      return typeof value === 'function' ? value.bind(current) : value;
    },
  });
}
