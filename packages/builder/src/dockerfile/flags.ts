/**
 * An instruction's `--name=value` flags with BuildKit's rules: each instruction declares what it
 * accepts; unknown flags, repeats of non-list flags, string flags without `=value` and bool
 * flags with a non-boolean value are errors.
 */
type FlagKind = 'bool' | 'string' | 'strings';

export class FlagError extends Error {
  constructor(message: string, readonly flag?: string) {
    super(message);
  }
}

export class Flags {
  private readonly decl = new Map<string, FlagKind>();
  private readonly values = new Map<string, string[]>();

  constructor(private readonly raw: string[]) {}

  bool(name: string): this {
    this.decl.set(name, 'bool');
    return this;
  }
  string(name: string): this {
    this.decl.set(name, 'string');
    return this;
  }
  strings(name: string): this {
    this.decl.set(name, 'strings');
    return this;
  }

  /** Checks the raw flags against the declarations; throws FlagError naming the bad flag. */
  parse(): this {
    for (const arg of this.raw) {
      if (!arg.startsWith('--')) throw new FlagError(`arg should start with -- : ${arg}`, arg);
      if (arg === '--') break;
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const value = eq < 0 ? '' : body.slice(eq + 1);
      const kind = this.decl.get(name);
      if (!kind) throw new FlagError(`unknown flag: ${name}`, arg);
      if (this.values.has(name) && kind !== 'strings') throw new FlagError(`duplicate flag specified: ${name}`, arg);
      if (kind === 'bool') {
        if (eq >= 0 && value === '') throw new FlagError(`missing a value on flag: ${name}`, arg);
        const lower = value.toLowerCase();
        if (lower !== '' && lower !== 'true' && lower !== 'false') {
          throw new FlagError(`expecting boolean value for flag ${name}, not: ${value}`, arg);
        }
        this.values.set(name, [lower || 'true']);
      } else {
        if (eq < 0) throw new FlagError(`missing a value on flag: ${name}`, arg);
        this.values.set(name, [...(this.values.get(name) ?? []), value]);
      }
    }
    return this;
  }

  getString(name: string): string | undefined {
    return this.values.get(name)?.[0];
  }
  getBool(name: string): boolean {
    return this.values.get(name)?.[0] === 'true';
  }
  /** undefined when the flag was not given (for tri-state bools like ADD --unpack). */
  getOptionalBool(name: string): boolean | undefined {
    const v = this.values.get(name)?.[0];
    return v === undefined ? undefined : v === 'true';
  }
  getStrings(name: string): string[] {
    return this.values.get(name) ?? [];
  }
}
