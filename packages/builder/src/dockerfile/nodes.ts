/**
 * Stage one of parsing, BuildKit's line parser: parser directives, continuation lines,
 * comments, heredoc bodies, and each instruction's arguments split the way its instruction
 * splits them (JSON array or not, whitespace, name=value words). The typed tree is built from
 * these nodes in ./instructions.ts. dumpNode() prints BuildKit's test dump format.
 */
import type { Directives, Heredoc } from './ast';
import { DockerfileError } from './errors';
import { Lexer } from './shell';

/** One instruction as the line parser sees it. */
export interface Node {
  /** The instruction word as written (`run`, `RUN` ...). */
  cmd: string;
  /** `--flag[=value]` words before the arguments, quotes removed. */
  flags: string[];
  /** The arguments; for ENV/LABEL triples of key, value, '=' or '' (legacy `K V` form). */
  args: string[];
  /** ONBUILD's trigger. */
  child?: Node;
  /** The arguments were a JSON array of strings. */
  json: boolean;
  heredocs: Heredoc[];
  /** The logical line (continuations joined, comments inside dropped), untrimmed. */
  original: string;
  startLine: number;
  endLine: number;
  column: number;
  /** Maps an offset in `original` to its physical line and column. */
  at: (offset: number) => { line: number; column: number };
}

export interface NodesResult {
  directives: Directives;
  nodes: Node[];
  warnings: string[];
}

const WHITESPACE_RUN = /[\t\v\f\r ]+/;
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[ \t\n\f\r]*=[ \t\n\f\r]*(.+?)[ \t\n\f\r]*$/;
const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;
const HEREDOC_COMMANDS = new Set(['run', 'copy', 'add']);
/** Go's unicode.IsSpace (ASCII fast path; JS's \s minus U+FEFF beyond it). */
const isSpace = (c: string): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f' || (c > '\x7f' && c !== '\uFEFF' && /\s/.test(c));

const trimLeft = (s: string): string => {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  return s.slice(i);
};
const trimSpace = (s: string): string => {
  let e = s.length;
  while (e > 0 && isSpace(s[e - 1])) e--;
  return trimLeft(s.slice(0, e));
};
const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');

/** Splits keeping the '\n' on each line, as BuildKit's scanner does. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf('\n', start);
    if (i < 0) break;
    lines.push(text.slice(start, i + 1));
    start = i + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** Parser directives: only `#` lines at the very top; stops at the first other line. */
class DirectiveParser {
  done = false;
  readonly seen = new Set<string>();
  readonly values: Directives = { escape: '\\' };
  continuation = continuationRegex('\\');

  line(text: string, lineNo: number, file: string): void {
    if (this.done) return;
    if (!text.startsWith('#')) {
      this.done = true;
      return;
    }
    const m = DIRECTIVE.exec(trimLeft(text.slice(1)));
    const key = m?.[1].toLowerCase();
    if (!m || (key !== 'syntax' && key !== 'escape' && key !== 'check')) {
      this.done = true;
      return;
    }
    if (this.seen.has(key)) throw new DockerfileError({ file, line: lineNo, column: 1 }, `only one ${key} parser directive can be used`);
    this.seen.add(key);
    const value = m[2];
    if (key === 'escape') {
      if (value !== '`' && value !== '\\') {
        throw new DockerfileError({ file, line: lineNo, column: 1 }, `invalid escape token '${value}' does not match \` or \\`);
      }
      this.values.escape = value;
      this.continuation = continuationRegex(value);
    } else this.values[key] = value;
  }
}

/**
 * The escape char as the last non-blank character continues the line, unless it is itself
 * escaped (`foo\\` ends the line); a line holding only the escape char continues too.
 */
function continuationRegex(esc: string): RegExp {
  return new RegExp(`([^\\${esc}])\\${esc}[ \\t]*$|^\\${esc}[ \\t]*$`);
}

/** A stretch of the logical line and where it came from. */
interface Segment {
  offset: number;
  line: number;
  column: number;
}

function locator(segments: Segment[]): Node['at'] {
  return (offset) => {
    let s = segments[0];
    for (const seg of segments) if (seg.offset <= offset) s = seg;
    return { line: s.line, column: s.column + Math.max(0, offset - s.offset) };
  };
}

export function parseNodes(text: string, file: string): NodesResult {
  const lines = splitLines(text.startsWith('\uFEFF') ? text.slice(1) : text);
  const d = new DirectiveParser();
  const nodes: Node[] = [];
  const warnings: string[] = [];
  let i = 0;
  let lineNo = 0;

  const processLine = (raw: string, stripLeft: boolean): string => {
    let t = trimNewline(raw);
    if (stripLeft) t = trimLeft(t);
    d.line(t, lineNo + 1, file);
    return t.startsWith('#') ? '' : t;
  };
  const isComment = (raw: string): boolean => trimLeft(trimNewline(raw)).startsWith('#');
  const trimContinuation = (s: string): [string, boolean] => {
    if (d.continuation.test(s)) return [s.replace(d.continuation, '$1'), false];
    return [s, true];
  };

  while (i < lines.length) {
    const raw = lines[i++];
    const processed = processLine(raw, true);
    lineNo++;
    const startLine = lineNo;
    const indent = Array.from(trimNewline(raw)).length - Array.from(trimLeft(trimNewline(raw))).length;
    let [line, isEnd] = trimContinuation(processed);
    if (isEnd && line === '') continue;
    const segments: Segment[] = [{ offset: 0, line: lineNo, column: indent + 1 }];
    let emptyContinuation = false;
    while (!isEnd && i < lines.length) {
      const next = lines[i++];
      const p = processLine(next, false);
      lineNo++;
      if (isComment(next)) continue;
      if (trimLeft(p) === '') {
        emptyContinuation = true;
        continue;
      }
      let piece: string;
      [piece, isEnd] = trimContinuation(p);
      segments.push({ offset: line.length, line: lineNo, column: 1 });
      line += piece;
    }
    if (emptyContinuation) warnings.push(`${file}:${startLine}: empty continuation line`);

    const at = locator(segments);
    const node = nodeFromLine(line, d.values.escape, file, at);
    node.startLine = startLine;
    node.column = indent + 1;

    if (canContainHeredoc(node)) {
      for (const h of heredocsFromLine(line, file, at)) {
        let terminated = false;
        let content = '';
        while (i < lines.length) {
          const body = lines[i++];
          lineNo++;
          let candidate = trimNewline(body);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (!terminated) {
          const off = line.indexOf('<<');
          throw new DockerfileError({ file, ...at(off < 0 ? 0 : off) }, `unterminated heredoc ${h.name}`);
        }
        h.content = h.chomp ? content.replace(/^\t+/gm, '') : content;
        const target = node.child ?? node;
        target.heredocs.push(h);
      }
    }
    node.endLine = lineNo;
    if (node.child) {
      node.child.startLine = node.startLine;
      node.child.endLine = node.endLine;
    }
    nodes.push(node);
  }
  if (nodes.length === 0) throw new DockerfileError({ file, line: Math.max(lineNo, 1), column: 1 }, 'file with no instructions');
  return { directives: d.values, nodes, warnings };
}

function canContainHeredoc(node: Node): boolean {
  const n = node.cmd.toLowerCase() === 'onbuild' && node.child ? node.child : node;
  return HEREDOC_COMMANDS.has(n.cmd.toLowerCase()) && !n.json;
}

/** BuildKit's heredoc detection: lex the line keeping quotes, then look for `[n]<<[-]WORD` words. */
function heredocsFromLine(line: string, file: string, at: Node['at']): Heredoc[] {
  if (!line.includes('<<')) return [];
  let words: string[];
  try {
    words = new Lexer(line, () => undefined, { escape: '\\', rawQuotes: true, rawEscapes: true, skipUnsetEnv: true, heredocWords: true }).run().words;
  } catch {
    return [];
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    let h: Heredoc | undefined;
    try {
      h = parseHeredocWord(w);
    } catch (e) {
      throw new DockerfileError({ file, ...at(Math.max(0, line.indexOf(w))) }, (e as Error).message);
    }
    if (h) docs.push(h);
  }
  return docs;
}

/**
 * `<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF` -> the heredoc it starts, or undefined if the word is
 * not one. A delimiter with any quoting disables expansion of the body.
 */
export function parseHeredocWord(word: string): Heredoc | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3].length === 0) return undefined;
  const rest = m[3];
  const lex = (rawQuotes: boolean): string[] =>
    new Lexer(rest, () => undefined, { escape: '\\', rawQuotes, skipUnsetEnv: true }).run().words;
  const words = lex(false);
  if (words.length !== 1) return undefined;
  const raw = lex(true);
  const quotes = (s: string): number => s.split(/['"]/).length - 1;
  return { name: words[0], content: '', expand: quotes(words[0]) === quotes(raw[0]), chomp: m[2] === '-' };
}

/** Splits `CMD --flags args` and hands the arguments to the instruction's splitter. */
function nodeFromLine(line: string, escape: string, file: string, at: Node['at']): Node {
  const trimmed = trimSpace(line);
  const lead = line.indexOf(trimmed);
  const sp = WHITESPACE_RUN.exec(trimmed);
  const cmd = sp ? trimmed.slice(0, sp.index) : trimmed;
  const afterCmd = sp ? trimmed.slice(sp.index + sp[0].length) : '';
  const { rest, flags } = extractFlags(afterCmd);
  const args = trimSpace(rest);
  const argsOffset = lead + (sp ? sp.index + sp[0].length : trimmed.length) + (afterCmd.length - rest.length) + (rest.length - trimLeft(rest).length);
  const node: Node = {
    cmd, flags, args: [], json: false, heredocs: [], original: line,
    startLine: 0, endLine: 0, column: 1, at,
  };
  const fail = (msg: string): never => {
    throw new DockerfileError({ file, ...at(argsOffset) }, msg);
  };
  switch (cmd.toLowerCase()) {
    case 'add': case 'copy': case 'volume':
      Object.assign(node, maybeJSONToList(args, fail));
      break;
    case 'cmd': case 'entrypoint': case 'run': case 'shell':
      Object.assign(node, maybeJSON(args, fail));
      break;
    case 'arg':
      node.args = parseWords(args, escape);
      break;
    case 'env': case 'label':
      node.args = parseNameVal(args, cmd.toUpperCase() === 'ENV' ? 'ENV' : 'LABEL', escape, fail);
      break;
    case 'expose': case 'from':
      node.args = whitespaceDelimited(args);
      break;
    case 'healthcheck': {
      const m = /^(\S+)\s*/.exec(args);
      if (m) {
        const inner = maybeJSON(args.slice(m[0].length), fail);
        node.args = [m[1], ...inner.args];
        node.json = inner.json;
      }
      break;
    }
    case 'maintainer': case 'stopsignal': case 'user': case 'workdir':
      node.args = args === '' ? [] : [args];
      break;
    case 'onbuild':
      if (args !== '') {
        const inner = (off: number) => at(argsOffset + off);
        node.child = nodeFromLine(args, escape, file, inner);
      }
      break;
    default:
      node.args = ['']; // unknown instruction: rejected with its name by the instruction parser
  }
  return node;
}

/** Leading `--flag[=value]` words (quotes and `\` removed); `--` ends them. */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isSpace(line[pos])) pos++;
    if (pos >= line.length) return { rest: '', flags };
    if (!line.startsWith('--', pos)) return { rest: line.slice(pos), flags };
    let word = '';
    let blankOK = false;
    let quote = '';
    for (; pos < line.length; pos++) {
      let c = line[pos];
      if (quote) {
        if (c === quote) {
          quote = '';
          continue;
        }
      } else {
        if (isSpace(c)) break;
        if (c === "'" || c === '"') {
          quote = c;
          blankOK = true;
          continue;
        }
      }
      if (c === '\\') {
        if (pos + 1 === line.length) continue;
        c = line[++pos];
      }
      word += c;
    }
    if (word === '--') return { rest: line.slice(pos), flags };
    if (blankOK || word.length) flags.push(word);
  }
}

const JSON_NOT_STRINGS = 'when using JSON array syntax, arrays must be comprised of strings only';

/** A JSON array of strings, or undefined if the text is not a JSON array at all. */
function parseJSONArray(rest: string, fail: (m: string) => never): string[] | undefined {
  const t = trimLeft(rest);
  if (!t.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (!v.every((s) => typeof s === 'string')) fail(JSON_NOT_STRINGS);
  return v as string[];
}

function maybeJSON(rest: string, fail: (m: string) => never): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false };
  const arr = parseJSONArray(rest, fail);
  return arr ? { args: arr, json: true } : { args: [rest], json: false };
}

function maybeJSONToList(rest: string, fail: (m: string) => never): { args: string[]; json: boolean } {
  const arr = parseJSONArray(rest, fail);
  return arr ? { args: arr, json: true } : { args: whitespaceDelimited(rest), json: false };
}

function whitespaceDelimited(rest: string): string[] {
  return rest === '' ? [] : rest.split(/[\t\v\f\r ]+/);
}

/**
 * Words separated by unquoted whitespace, quotes and escapes kept in the word (the expander
 * removes them later). A quoted empty string is a word.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const cs = Array.from(rest);
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOK = false;
  for (let i = 0; i < cs.length; i++) {
    let c = cs[i];
    if (!inWord) {
      if (isSpace(c)) continue;
      inWord = true;
    }
    if (quote) {
      if (c === quote) quote = '';
      else if (c === escape && quote !== "'") {
        if (i + 1 === cs.length) {
          quote = '';
          continue;
        }
        word += c;
        c = cs[++i];
      }
      word += c;
      continue;
    }
    if (isSpace(c)) {
      if (blankOK || word) words.push(word);
      word = '';
      blankOK = false;
      inWord = false;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      blankOK = true;
    }
    if (c === escape) {
      if (i + 1 === cs.length) continue;
      word += c;
      c = cs[++i];
    }
    word += c;
  }
  if (inWord && (blankOK || word)) words.push(word);
  return words;
}

/** ENV/LABEL: `K V` (legacy: one pair, the rest of the line is the value) or `K=V ...`. */
function parseNameVal(rest: string, cmd: string, escape: string, fail: (m: string) => never): string[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0].includes('=')) {
    const m = /[\t\v\f\r ]+/.exec(rest);
    if (!m) fail(`${cmd} must have two arguments`);
    return [rest.slice(0, m!.index), rest.slice(m!.index + m![0].length), ''];
  }
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) fail(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    out.push(w.slice(0, eq), w.slice(eq + 1), '=');
  }
  return out;
}

/** Go's strconv.Quote, for messages and dumps that match BuildKit's byte for byte. */
export function goQuote(s: string): string {
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    switch (c) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x7f || (c !== ' ' && /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(c))) out += c;
    else if (cp <= 0xffff) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** BuildKit's Node.Dump(): `cmd ["flags"] "arg" ...`, ONBUILD's trigger in parentheses. */
export function dumpNode(n: Node): string {
  let s = n.cmd.toLowerCase();
  if (n.flags.length) s += ' [' + n.flags.map(goQuote).join(' ') + ']';
  if (n.child) s += ' (' + dumpNode(n.child) + ')';
  for (const a of n.args) s += ' ' + goQuote(a);
  return s.trim();
}
