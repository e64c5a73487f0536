/**
 * The shell-word expander with BuildKit's rules (its frontend/dockerfile/shell lexer): `$var`,
 * `${var}`, `${var:-w}` `${var-w}` `${var:+w}` `${var+w}` `${var:?msg}` `${var?msg}`,
 * `${var#p}` `${var##p}` `${var%p}` `${var%%p}`, `${var/p/r}` `${var//p/r}`, single quotes
 * (literal), double quotes (only `$`, `"` and the escape char are special) and the escape
 * character. Not a shell: no command substitution, no globbing, no arithmetic.
 */

/** Looks a variable up; undefined = unset (distinct from set-but-empty for `-`/`+`/`?`). */
export type EnvLookup = (name: string) => string | undefined;

export interface ExpandOptions {
  /** The Dockerfile's escape character (default '\\'). */
  escape?: '\\' | '`';
  /** Called with every variable name the word looks up (the cache keys on build args in use). */
  onLookup?: (name: string) => void;
  /**
   * Leave quotes alone and only substitute variables: how BuildKit expands a COPY/ADD heredoc
   * body (`expand: true`), which is file content, not Dockerfile words.
   */
  keepQuotes?: boolean;
}

/** A word the expander rejects (bad substitution, unterminated quote, `${x:?msg}` with x unset). */
export class ShellWordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellWordError';
  }
}

/** Expands one word into one string (ENV/LABEL values, WORKDIR, USER, COPY paths ...). */
export function expandWord(word: string, env: EnvLookup, opts: ExpandOptions = {}): string {
  return new Lexer(word, env, lexOptions(opts)).run().result;
}

/**
 * Expands into words split on unquoted whitespace (BuildKit's ProcessWords): whitespace that
 * comes from a variable's value splits too, unless the variable is inside double quotes.
 */
export function expandWords(word: string, env: EnvLookup, opts: ExpandOptions = {}): string[] {
  return new Lexer(word, env, lexOptions(opts)).run().words;
}

function lexOptions(opts: ExpandOptions): LexOptions {
  return { escape: opts.escape ?? '\\', onLookup: opts.onLookup, skipQuotes: opts.keepQuotes };
}

/** Internal knobs (the heredoc detector needs quotes and escapes kept and unset vars left alone). */
export interface LexOptions {
  escape: string;
  rawQuotes?: boolean;
  rawEscapes?: boolean;
  skipUnsetEnv?: boolean;
  /** Quotes are ordinary characters. */
  skipQuotes?: boolean;
  /** `<<` takes the blanks after it into the same word (so `<< EOF` is one heredoc word). */
  heredocWords?: boolean;
  onLookup?: (name: string) => void;
}

const EOF = undefined;
/** Go's unicode.IsSpace (ASCII fast path; JS's \s minus U+FEFF beyond it). */
const isSpace = (c: string): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f' || (c > '\x7f' && c !== '\uFEFF' && /\s/.test(c));
const isDigit = (c: string): boolean => /\p{Nd}/u.test(c);
const isLetter = (c: string): boolean => /\p{L}/u.test(c);
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** Accumulates the result split into words, as BuildKit's wordsStruct. */
class Words {
  word = '';
  words: string[] = [];
  inWord = false;
  addChar(c: string): void {
    if (isSpace(c)) {
      if (this.inWord && this.word.length) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else this.addRaw(c);
  }
  addRaw(s: string): void {
    this.word += s;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const c of s) this.addChar(c);
  }
  finish(): string[] {
    if (this.word.length) this.words.push(this.word);
    this.word = '';
    this.inWord = false;
    return this.words;
  }
}

export class Lexer {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;

  constructor(private readonly source: string, private readonly env: EnvLookup, private readonly o: LexOptions) {
    this.chars = Array.from(source);
    this.rawEscapes = !!o.rawEscapes;
  }

  /** Processes the whole word; errors carry BuildKit's `failed to process "<word>": ...` text. */
  run(): { result: string; words: string[] } {
    try {
      const [result, words] = this.processStopOn(EOF, this.rawEscapes);
      return { result, words };
    } catch (e) {
      if (e instanceof ShellWordError) throw new ShellWordError(`failed to process ${JSON.stringify(this.source)}: ${e.message}`);
      throw e;
    }
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  private processStopOn(stop: string | undefined, rawEscapes: boolean): [string, string[]] {
    let result = '';
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let c = this.peek()!;
        if (stop !== EOF && c === stop) {
          this.next();
          return [result, words.finish()];
        }
        if (c === '$') {
          const v = this.processDollar();
          result += v;
          words.addString(v);
          continue;
        }
        if (c === '<' && this.o.heredocWords) {
          const v = this.processPossibleHeredoc();
          result += v;
          words.addRaw(v);
          continue;
        }
        if ((c === "'" || c === '"') && !this.o.skipQuotes) {
          const v = c === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += v;
          words.addRaw(v);
          continue;
        }
        c = this.next()!;
        if (c === this.o.escape) {
          if (this.rawEscapes) {
            words.addRaw(c);
            result += c;
          }
          const n = this.next();
          if (n === EOF) break; // a lone escape at the end is dropped
          words.addRaw(n);
          result += n;
        } else {
          words.addChar(c);
          result += c;
        }
      }
      if (stop !== EOF) throw new ShellWordError(`unexpected end of statement while looking for matching ${stop}`);
      return [result, words.finish()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    while (this.peek() === ' ' || this.peek() === '\t') space += this.next();
    return '<<' + space;
  }

  private processSingleQuote(): string {
    let result = this.next()!; // the opening quote
    if (!this.o.rawQuotes) result = '';
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new ShellWordError('unexpected end of statement while looking for matching single-quote');
      if (c === "'") return this.o.rawQuotes ? result + c : result;
      result += c;
    }
  }

  private processDoubleQuote(): string {
    let result = this.next()!;
    if (!this.o.rawQuotes) result = '';
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new ShellWordError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        return this.o.rawQuotes ? result + '"' : result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let c = this.next()!;
      if (c === this.o.escape) {
        if (this.rawEscapes) result += c;
        const n = this.peek();
        if (n === EOF) continue; // ignore the escape at the end of the word
        if (n === '"' || n === '$' || n === this.o.escape) c = this.next()!;
      }
      result += c;
    }
  }

  private lookup(name: string): string | undefined {
    this.o.onLookup?.(name);
    return this.env(name);
  }

  private processDollar(): string {
    this.next(); // '$'
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const v = this.lookup(name);
      if (v === undefined && this.o.skipUnsetEnv) return '$' + name;
      return v ?? '';
    }
    this.next(); // '{'
    const first = this.peek();
    if (first === EOF) throw new ShellWordError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ShellWordError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = ch ?? '';
    if (ch === '}') {
      const v = this.lookup(name);
      if (v === undefined && this.o.skipUnsetEnv) return '${' + name + '}';
      return v ?? '';
    }
    if (ch === '/') return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch ?? '';
    } else if (ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
      throw new ShellWordError(`unsupported modifier (${chs}) in substitution`);
    }
    let [word] = this.stopOnBrace(ch === '#' || ch === '%');
    const value = this.lookup(name);
    if (this.o.skipUnsetEnv && value === undefined) return '${' + name + chs + word + '}';
    const empty = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : value!;
      case '+':
        return empty ? '' : word;
      case '?':
        if (value === undefined) throw new ShellWordError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new ShellWordError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '%':
      case '#': {
        const greedy = word.startsWith(ch);
        if (greedy) word = word.slice(1);
        return ch === '%' ? trimSuffix(word, value ?? '', greedy) : trimPrefix(word, value ?? '', greedy);
      }
      default:
        throw new ShellWordError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  /** Reads up to the closing `}` of `${name<op>word}`, mapping end-of-input to BuildKit's message. */
  private stopOnBrace(rawEscapes: boolean): [string, string[]] {
    try {
      return this.processStopOn('}', rawEscapes);
    } catch (e) {
      if (this.peek() === EOF) throw new ShellWordError("syntax error: missing '}'");
      throw e;
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      [pattern] = this.processStopOn('/', true);
    } catch (e) {
      if (this.peek() === EOF) throw new ShellWordError("syntax error: missing '/' in ${}");
      throw e;
    }
    const [replacement] = this.stopOnBrace(true);
    const value = this.lookup(name);
    if (this.o.skipUnsetEnv && value === undefined) return '${' + name + '/' + pattern + '/' + replacement + '}';
    const re = shellPatternToRegex(pattern, true, false, all);
    const v = value ?? '';
    if (all) return v.replace(re, () => replacement);
    const m = re.exec(v);
    return m ? v.slice(0, m.index) + replacement + v.slice(m.index + m[0].length) : v;
  }

  /** A name: letters/digits/_; or a run of digits (positional); or one special parameter. */
  private processName(): string {
    let name = '';
    for (let c = this.peek(); c !== EOF; c = this.peek()) {
      if (name === '' && isDigit(c)) {
        while (this.peek() !== EOF && isDigit(this.peek()!)) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(c)) return this.next()!;
      if (!isLetter(c) && !isDigit(c) && c !== '_') break;
      name += this.next();
    }
    return name;
  }
}

const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/** `*` any string (shortest unless greedy), `?` one char, `\` escapes `*`, `?`, `\`; no `[...]`. */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const cs = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i];
    if (c === '*') out += greedy ? '.*' : '.*?';
    else if (c === '?') out += '.';
    else if (c === '\\') {
      const n = cs[i + 1];
      if (n === '}' || n === '/') continue; // escaped only for ${} syntax, not part of the pattern
      i++;
      if (n !== '*' && n !== '?' && n !== '\\') throw new ShellWordError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`);
      out += '\\' + n;
    } else if (REGEX_SPECIAL.has(c)) out += '\\' + c;
    else out += c;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** The shortest/longest rightmost match: reverse pattern and value and trim a prefix instead. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = reverse(value);
  return reverse(trimPrefix(reversePattern(pattern), reversed, greedy));
}

const reverse = (s: string): string => Array.from(s).reverse().join('');

/** Reverses a pattern keeping escapes before the character they escape (a\*c -> c\*a). */
function reversePattern(pattern: string): string {
  const cs = Array.from(pattern);
  const out: string[] = [];
  for (let i = 0; i < cs.length; ) {
    if (cs[i] === '\\' && i !== cs.length - 1) {
      out.unshift('\\' + cs[i + 1]);
      i += 2;
    } else {
      out.unshift(cs[i]);
      i++;
    }
  }
  return out.join('');
}
