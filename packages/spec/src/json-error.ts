/**
 * Explains why JSON.parse rejected a text, on one line, with a line and column.
 *
 * Why not just use V8's message: on Node 20 it often has no position at all
 * ("Unexpected token '}', "...{"a": }..." is not valid JSON") and quotes a snippet of the
 * input that may contain newlines. This small scanner (only run after JSON.parse has already
 * failed, so it costs nothing on the happy path) finds the first offending character itself.
 */

interface SyntaxProblem {
  pos: number;
  message: string;
}

/** e.g. "line 3 column 5: expected ',' or '}' after property value, found '\"'" */
export function describeJsonError(text: string, err: unknown): string {
  const found = scan(text);
  if (!found) {
    // The scanner accepted what V8 rejected (should not happen): fall back to V8, one line.
    const msg = err instanceof Error ? err.message : String(err);
    return msg.replace(/\s+/g, ' ');
  }
  const { line, column } = lineColumn(text, found.pos);
  return `line ${line} column ${column}: ${found.message}`;
}

export function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

class Fail {
  constructor(readonly pos: number, readonly message: string) {}
}

/** Returns the first syntax error of `s` as strict JSON (RFC 8259), or null if there is none. */
function scan(s: string): SyntaxProblem | null {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw new Fail(at, message);
  };
  const found = (): string => {
    if (i >= s.length) return 'end of input';
    const c = s[i];
    return c < ' ' ? JSON.stringify(c) : `'${c}'`;
  };
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

  const value = (): void => {
    ws();
    if (i >= s.length) fail(s.trim() === '' ? 'unexpected end of input (the file is empty)' : 'unexpected end of input');
    const c = s[i];
    if (c === '{') object();
    else if (c === '[') array();
    else if (c === '"') string();
    else if (c === '-' || (c >= '0' && c <= '9')) number();
    else if (/[A-Za-z]/.test(c)) literal();
    else fail(`unexpected ${found()}, expected a value`);
  };

  const object = () => {
    i++; // '{'
    ws();
    if (s[i] === '}') return void i++;
    for (;;) {
      ws();
      if (s[i] !== '"') fail(s[i] === '}' ? "trailing comma before '}'" : `expected a double-quoted property name, found ${found()}`);
      string();
      ws();
      if (s[i] !== ':') fail(`expected ':' after property name, found ${found()}`);
      i++;
      value();
      ws();
      if (s[i] === ',') i++;
      else if (s[i] === '}') return void i++;
      else fail(`expected ',' or '}' after property value, found ${found()}`);
    }
  };

  const array = () => {
    i++; // '['
    ws();
    if (s[i] === ']') return void i++;
    for (;;) {
      ws();
      if (s[i] === ']') fail("trailing comma before ']'");
      value();
      ws();
      if (s[i] === ',') i++;
      else if (s[i] === ']') return void i++;
      else fail(`expected ',' or ']' after array element, found ${found()}`);
    }
  };

  const string = () => {
    const start = i++;
    for (;;) {
      if (i >= s.length) fail('unterminated string', start);
      const c = s[i];
      if (c === '"') return void i++;
      if (c === '\\') {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) fail('invalid \\u escape in string');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`invalid escape '\\${e ?? ''}' in string`);
      } else if (c < ' ') {
        fail(c === '\n' ? 'unterminated string (raw newline inside it)' : `unescaped control character ${JSON.stringify(c)} in string`);
      } else i++;
    }
  };

  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(s);
    if (!m) fail('invalid number');
    i += m![0].length;
    if (i < s.length && /[0-9A-Za-z.]/.test(s[i])) fail(`invalid number, unexpected ${found()}`);
  };

  const literal = () => {
    for (const word of ['true', 'false', 'null']) {
      if (s.startsWith(word, i) && !/[A-Za-z0-9_]/.test(s[i + word.length] ?? '')) return void (i += word.length);
    }
    const word = /[A-Za-z0-9_]+/y;
    word.lastIndex = i;
    fail(`unexpected '${word.exec(s)![0]}', expected a value (strings need double quotes; true, false and null are lower case)`);
  };

  try {
    value();
    ws();
    if (i < s.length) fail(`unexpected ${found()} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e instanceof Fail) return { pos: e.pos, message: e.message };
    throw e;
  }
}
