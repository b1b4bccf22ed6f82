/**
 * A small command-line parser for the bench scripts: `--name value`, `--name=value`, and boolean flags
 * (`--soak`, `--no-soak`). Unknown options are an error naming the known ones.
 */
export type ArgSpec = Readonly<Record<string, 'string' | 'number' | 'boolean' | 'list'>>;

export type ParsedArgs = Record<string, string | number | boolean | string[] | undefined>;

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const out: ParsedArgs = {};
  for (let i = 0; i < argv.length; i += 1) {
    const raw = argv[i] as string;
    if (!raw.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(raw)} (options start with --)`);
    const eq = raw.indexOf('=');
    let name = eq === -1 ? raw.slice(2) : raw.slice(2, eq);
    let negated = false;
    if (!(name in spec) && name.startsWith('no-') && spec[name.slice(3)] === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const kind = spec[name];
    if (kind === undefined) {
      throw new Error(
        `unknown option --${name}; known: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    }
    if (kind === 'boolean') {
      if (eq !== -1) throw new Error(`--${name} takes no value`);
      out[name] = !negated;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = raw.slice(eq + 1);
    else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined || value === '') throw new Error(`--${name} needs a value`);
    if (kind === 'number') {
      const number = Number(value.replaceAll('_', '').replaceAll(',', ''));
      if (!Number.isFinite(number) || number <= 0)
        throw new Error(`--${name} must be a positive number; got ${JSON.stringify(value)}`);
      out[name] = number;
    } else if (kind === 'list') {
      out[name] = value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    } else {
      out[name] = value;
    }
  }
  return out;
}
