import type { MountType, RunMount } from './ast';

const TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING = ['shared', 'private', 'locked'] as const;

/**
 * Parses one `--mount=` value (csv `key=value` fields) with BuildKit's keys and defaults.
 * `expand`, when given, is applied to each value first (the builder passes the stage's
 * ARG/ENV expander at dispatch time). Without it, numeric fields that still hold a `$` are left
 * undefined and `needsExpansion` is set. Throws Error with a one-line reason.
 */
export function parseMount(raw: string, expand?: (value: string) => string): RunMount {
  const m: RunMount = { raw, type: 'bind', readOnly: true, required: false, needsExpansion: !expand && raw.includes('$') };
  let roAuto = true;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  for (const field of splitCsv(raw)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') m.readOnly = true;
      else if (key === 'readwrite' || key === 'rw') m.readOnly = false;
      else if (key === 'required' && (m.type === 'secret' || m.type === 'ssh')) {
        m.required = true;
        continue;
      } else if (key === 'required') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
      else throw new Error(`invalid field '${field}' must be a key=value pair`);
      roAuto = false;
      continue;
    }
    let value = field.slice(eq + 1);
    if (key === 'from' && /\$./.test(value) && !expand) {
      throw new Error(`'${key}' doesn't support variable expansion, define alias stage instead`);
    }
    if (expand) value = expand(value);
    const deferred = !expand && value.includes('$');
    switch (key) {
      case 'type': {
        const t = value.toLowerCase() as MountType;
        if (!TYPES.includes(t)) throw new Error(`unsupported mount type ${JSON.stringify(value)}`);
        m.type = t;
        break;
      }
      case 'from': m.from = value; break;
      case 'source': case 'src': m.source = value; break;
      case 'target': case 'dst': case 'destination': m.target = value; break;
      case 'readonly': case 'ro':
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case 'readwrite': case 'rw':
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, value);
        break;
      case 'size':
        if (m.type !== 'tmpfs') throw new Error(`unexpected key '${key}' for mount type '${m.type}'`);
        if (!deferred) m.size = ramInBytes(value);
        break;
      case 'id': m.id = value; break;
      case 'sharing': {
        const s = value.toLowerCase();
        if (!(SHARING as readonly string[]).includes(s)) throw new Error(`unsupported sharing value ${JSON.stringify(value)}`);
        m.sharing = s as RunMount['sharing'];
        break;
      }
      case 'mode':
        if (!deferred && !/^[0-7]+$/.test(value)) throw new Error(`invalid value ${value} for mode`);
        mode = deferred ? -1 : parseInt(value, 8);
        break;
      case 'uid': case 'gid': {
        if (!deferred && !/^\d+$/.test(value)) throw new Error(`invalid value ${value} for ${key}`);
        const n = deferred ? -1 : Number(value);
        if (n > 0xffffffff) throw new Error(`invalid value ${value} for ${key}`);
        if (key === 'uid') uid = n;
        else gid = n;
        break;
      }
      case 'env': m.env = value; break;
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  const fileInfo = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  for (const [k, v] of [['mode', mode], ['uid', uid], ['gid', gid]] as const) {
    if (v !== undefined && !fileInfo) throw new Error(`${k} not allowed for ${JSON.stringify(m.type)} type mounts`);
  }
  if (mode !== undefined && mode >= 0) m.mode = mode;
  if (uid !== undefined && uid >= 0) m.uid = uid;
  if (gid !== undefined && gid >= 0) m.gid = gid;
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from) throw new Error('secret mount should not have a from');
    if (m.sharing) throw new Error('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id && !m.env) throw new Error('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new Error("both source and id can't be set");
  }
  if (m.sharing && m.type !== 'cache') throw new Error(`invalid cache sharing set for ${m.type} mount`);
  if (!m.target && (m.type === 'bind' || m.type === 'cache' || m.type === 'tmpfs')) {
    throw new Error(`mount type ${m.type} requires a target`);
  }
  return m;
}

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new Error(`invalid value for ${key}: ${value}`);
}

/** docker/go-units RAMInBytes: `64m`, `1g`, `512k`, `100` (binary multiples). */
function ramInBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value);
  if (!m) throw new Error(`invalid value for size: ${value}`);
  const exp = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(parseFloat(m[1]) * 1024 ** exp);
}

/** One CSV record (Go's encoding/csv): fields split on commas, `"..."` quoting with `""`. */
function splitCsv(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new Error(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"') throw new Error(`failed to parse csv mounts: bare " in non-quoted-field`);
        field += s[i++];
      }
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // ','
  }
}
