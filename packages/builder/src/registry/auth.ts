/**
 * Registry authentication (distribution's token.md and RFC 7235): the registry answers 401
 * with a WWW-Authenticate challenge; "Basic" wants the user's credentials on every request,
 * "Bearer" sends us to a token service (realm, service) that grants a token for the scopes
 * we ask ("repository:library/busybox:pull"), with the credentials as basic auth or
 * anonymously. Tokens are cached per set of scopes until they expire.
 */
import { AuthError, RegistryError, errorText } from './errors';
import { readBody, send, drain } from './http';
import type { Credentials } from './authfile';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null) {
    if (p[0] === '') break;
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

interface Token {
  value: string;
  expires: number;
}

export interface AuthContext {
  /** The registry as named in references, for messages. */
  registry: string;
  credentials?: Credentials;
  verifyTls: boolean;
  /** Where the credentials came from, for the error when they are refused. */
  credentialSource?: string;
}

export class Authenticator {
  challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Token>();

  constructor(readonly ctx: AuthContext) {}

  /** The Authorization header for a request needing `scopes`, fetching a token if needed. */
  async header(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      if (!this.ctx.credentials) return undefined;
      const { username, password } = this.ctx.credentials;
      return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    if (c.scheme === 'bearer') return `Bearer ${await this.token(scopes)}`;
    throw new RegistryError(`${this.ctx.registry}: unsupported authentication scheme ${JSON.stringify(c.scheme)}`);
  }

  /**
   * Takes a 401's challenge. Returns true when the request is worth sending again with the
   * new authorization (the client does so once), false when nothing would change: basic
   * credentials just refused, or none to offer.
   */
  onUnauthorized(header: string | undefined, scopes: string[], hadAuth: boolean): boolean {
    const c = parseChallenge(header);
    if (!c) return false;
    this.challenge = c;
    if (c.scheme === 'bearer') {
      this.tokens.delete(scopeKey(scopes));
      return true;
    }
    if (c.scheme === 'basic') return !hadAuth && !!this.ctx.credentials;
    return false;
  }

  /** The error for a request refused after authenticating as we could. */
  refused(detail: string): AuthError {
    const c = this.ctx.credentials;
    const who = c
      ? `user ${JSON.stringify(c.username)}${this.ctx.credentialSource ? `, credentials from ${this.ctx.credentialSource}` : ''}`
      : `no credentials; log in with "tsbuild login ${this.ctx.registry}"`;
    return new AuthError(`${this.ctx.registry}: unauthorized: ${detail.replace(/^unauthorized: /, "")} (${who})`);
  }

  private async token(scopes: string[]): Promise<string> {
    const c = this.challenge!;
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    if (!c.params.realm) throw new RegistryError(`${this.ctx.registry}: bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(c.params.realm);
    } catch {
      throw new RegistryError(`${this.ctx.registry}: bearer challenge with an invalid realm ${JSON.stringify(c.params.realm)}`);
    }
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of key ? key.split(' ') : []) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.ctx.credentials) {
      const { username, password } = this.ctx.credentials;
      headers.Authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      url.searchParams.set('account', username);
    }
    let res;
    try {
      res = await send({ method: 'GET', url, headers, verifyTls: this.ctx.verifyTls });
    } catch (e) {
      throw new RegistryError(`${this.ctx.registry}: token service ${url.host}: ${errorText(e)}`);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      drain(res);
      throw this.ctx.credentials ? this.refused('incorrect username or password') : this.refused('the token service refused an anonymous token');
    }
    const body = await readBody(res, 1 << 20);
    if (res.statusCode !== 200) throw new RegistryError(`${this.ctx.registry}: token service ${url.host} answered ${res.statusCode}`);
    let doc: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError(`${this.ctx.registry}: token service ${url.host} answered something that is not JSON`);
    }
    const value = doc.token ?? doc.access_token;
    if (!value) throw new RegistryError(`${this.ctx.registry}: token service ${url.host} gave no token`);
    // 60 s is the spec's default lifetime; renew a little early
    const life = Math.max(10, (doc.expires_in ?? 60) - 5) * 1000;
    this.tokens.set(key, { value, expires: Date.now() + life });
    return value;
  }
}

/** The scopes of a request as one key (sorted, space-separated). */
function scopeKey(scopes: string[]): string {
  return [...new Set(scopes)].sort().join(' ');
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}
