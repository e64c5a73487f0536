/**
 * The word expander's pattern operators and options (beyond BuildKit's envVarTest table), and
 * .dockerignore reading and matching with moby/patternmatcher's rules.
 */
import * as path from 'node:path';
import { expandWord, ShellWordError } from '../../packages/builder/src/dockerfile/shell';
import { IgnoreMatcher, parseDockerignore, dockerignoreCandidates } from '../../packages/builder/src/dockerfile/dockerignore';

const vars: Record<string, string> = { P: '/usr/local/bin/tool.tar.gz', E: '', V: 'a-b-c-b-a', HOME: '/root' };
const env = (n: string): string | undefined => vars[n];

describe('expandWord: pattern operators', () => {
  it.each([
    ['${P#*/}', 'usr/local/bin/tool.tar.gz'],
    ['${P##*/}', 'tool.tar.gz'],
    ['${P%.*}', '/usr/local/bin/tool.tar'],
    ['${P%%.*}', '/usr/local/bin/tool'],
    ['${P%/*}', '/usr/local/bin'],
    ['${V/b/X}', 'a-X-c-b-a'],
    ['${V//b/X}', 'a-X-c-X-a'],
    ['${V//-/}', 'abcba'],
    ['${V/?-c/Y}', 'a-Y-b-a'],
    ['${V/#a/Z}', 'a-b-c-b-a'], // no anchors in BuildKit's patterns: '#a' is literal
    ['${V#\\*}', 'a-b-c-b-a'],
    ['${NOPE#x}', ''],
    ['${E:-d}', 'd'],
    ['${E-d}', ''],
    ['${E:+s}', ''],
    ['${E+s}', 's'],
    ['${HOME:+"$HOME/x"}', '/root/x'],
    ['"${HOME}"/\'$HOME\'', "/root/$HOME"],
  ])('%s -> %s', (word, expected) => {
    expect(expandWord(word, env)).toBe(expected);
  });

  it.each([
    ['${NOPE?custom message}', 'NOPE: custom message'],
    ['${NOPE:?}', 'NOPE: is not allowed to be unset'],
    ['${E:?}', 'E: is not allowed to be empty'],
    ['${V/x', "syntax error: missing '/' in ${}"],
    ['${V#\\a}', "invalid escape '\\a'"],
  ])('%s fails: %s', (word, message) => {
    expect(() => expandWord(word, env)).toThrow(ShellWordError);
    expect(() => expandWord(word, env)).toThrow(message);
  });

  it('the backtick escape', () => {
    expect(expandWord('C:\\dir`$HOME', env, { escape: '`' })).toBe('C:\\dir$HOME');
    expect(expandWord('"a`"b"', env, { escape: '`' })).toBe('a"b');
  });

  it('reports the variables it looked up (the cache keys on them)', () => {
    const seen: string[] = [];
    expandWord('$HOME ${NOPE:-x} ${V%%-*}', env, { onLookup: (n) => seen.push(n) });
    expect(seen).toEqual(['HOME', 'NOPE', 'V']);
  });

  it('keepQuotes leaves quotes in file content and still substitutes', () => {
    expect(expandWord(`echo "$HOME" '$HOME'\n`, env, { keepQuotes: true })).toBe(`echo "/root" '/root'\n`);
  });
});

describe('.dockerignore reading (ignorefile.ReadAll)', () => {
  it('cleans and keeps exceptions', () => {
    expect(parseDockerignore('test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ')).toEqual([
      'test1', 'test2', 'a/file/here', 'lastfile', '!inverted/abs/path', '!', '!',
    ]);
    expect(parseDockerignore('\uFEFF./a/../b/\n  #not a comment\r\n**/*.log  \n')).toEqual(['b', '#not a comment', '**/*.log']);
  });
});

describe('.dockerignore matching (patternmatcher)', () => {
  const cases: Array<[string[], string, boolean]> = [
    [['*.md'], 'README.md', true],
    [['*.md'], 'docs/README.md', false],
    [['**/*.md'], 'docs/a/README.md', true],
    [['**/*.md'], 'README.md', true],
    [['docs'], 'docs/a/b.txt', true], // a parent directory matches
    [['docs/'], 'docs/x', true],
    [['/docs'], 'docs/x', true],
    [['./docs'], 'docs', true],
    [['docs/**'], 'docs/x/y', true],
    [['docs/**'], 'docs', false],
    [['**'], 'anything/at/all', true],
    [['a/**/b'], 'a/b', true],
    [['a/**/b'], 'a/x/y/b', true],
    [['a/**/b'], 'a/x/c', false],
    [['?.txt'], 'a.txt', true],
    [['?.txt'], 'ab.txt', false],
    [['[a-c].go'], 'b.go', true],
    [['[a-c].go'], 'd.go', false],
    [['[^a-c].go'], 'd.go', true],
    [['\\*.go'], '*.go', true],
    [['\\*.go'], 'a.go', false],
    [['a+b(c)'], 'a+b(c)', true],
    [['*', '!keep'], 'keep', false],
    [['*', '!keep'], 'other', true],
    [['*', '!keep', 'keep'], 'keep', true], // the last matching pattern wins
    [['dir', '!dir/keep'], 'dir/keep', false],
    [['dir', '!dir/keep'], 'dir/drop', true],
    [['dir', '!dir/keep'], 'dir/keep/inner', false],
    [['*/tmp'], 'a/tmp/file', true],
    [['*/tmp'], 'tmp', false],
    [['node_modules'], 'src/node_modules', false],
    [['**/node_modules'], 'src/node_modules/x', true],
    [['.git'], '.git/config', true],
    [['*'], '.', false], // the context root itself is never excluded
  ];
  it.each(cases)('%j matches %s: %s', (patterns, file, expected) => {
    // through the file reader, as a build reads them
    expect(new IgnoreMatcher(parseDockerignore(patterns.join('\n'))).ignores(file)).toBe(expected);
  });

  it('knows when exceptions exist', () => {
    expect(new IgnoreMatcher(['a', '!b']).hasExceptions).toBe(true);
    expect(new IgnoreMatcher(['a']).hasExceptions).toBe(false);
  });

  it.each([['!'], ['[a-'], ['a['], ['[]a]'], ['a\\']])('rejects %s', (p) => {
    expect(() => new IgnoreMatcher([p])).toThrow(p === '!' ? 'illegal exclusion pattern: "!"' : 'syntax error in pattern');
  });

  it('-f X.Dockerfile looks for X.Dockerfile.dockerignore next to it first', () => {
    expect(dockerignoreCandidates('/ctx', 'build/app.Dockerfile')).toEqual([
      path.join('/ctx/build/app.Dockerfile.dockerignore'), '/ctx/.dockerignore',
    ]);
    expect(dockerignoreCandidates('/ctx', '/elsewhere/Dockerfile')).toEqual(['/elsewhere/Dockerfile.dockerignore', '/ctx/.dockerignore']);
    expect(dockerignoreCandidates('/ctx')).toEqual(['/ctx/.dockerignore']);
  });
});
