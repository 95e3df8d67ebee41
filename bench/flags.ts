/** A bench script's command-line flags: `--name value` or `--name=value`, and bare `--name`. */
export function commandLineFlags(args: readonly string[]): { flag(name: string): string | undefined; has(name: string): boolean } {
  return {
    flag(name) {
      const eq = args.find((a) => a.startsWith(`--${name}=`));
      if (eq) return eq.slice(name.length + 3);
      const i = args.indexOf(`--${name}`);
      return i >= 0 ? args[i + 1] : undefined;
    },
    has: (name) => args.includes(`--${name}`),
  };
}
