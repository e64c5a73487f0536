/**
 * BuildKit's own Dockerfile test tables (test/fixtures/buildkit, Apache-2.0) run against
 * tsbuild's expander and parser: the shell-word expansion table, the word-splitting table, the
 * parser's Dockerfile/result pairs (compared through BuildKit's dump format) and the inputs it
 * must reject.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expandWord, expandWords, ShellWordError } from '../../packages/builder/src/dockerfile/shell';
import { dumpNode, parseNodes } from '../../packages/builder/src/dockerfile/nodes';
import { parseDockerfile, DockerfileError } from '../../packages/builder/src/dockerfile';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'buildkit');
const read = (...p: string[]): string => fs.readFileSync(path.join(FIXTURES, ...p), 'utf8');

function envOf(entries: string[]): (name: string) => string | undefined {
  const m = new Map<string, string>();
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i < 0) m.set(e, '');
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return (name) => m.get(name);
}

describe('BuildKit envVarTest: one word expanded', () => {
  const env = envOf(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
  const cases = read('shell', 'envVarTest')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split('|').map((s) => s.trim()))
    .filter(([platform]) => platform.includes('A') || platform.includes('U'))
    .map(([, input, expected], i) => [i + 1, input, expected] as const);

  it('has the table', () => expect(cases.length).toBeGreaterThan(200));

  it.each(cases)('#%d %s -> %s', (_n, input, expected) => {
    if (expected === 'error') {
      expect(() => expandWord(input, env)).toThrow(ShellWordError);
    } else {
      expect(expandWord(input, env)).toBe(expected);
    }
  });
});

describe('BuildKit wordsTest: expansion into words', () => {
  const cases: Array<[string, string, string[]]> = [];
  const envs: string[] = [];
  for (const line of read('shell', 'wordsTest').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (line.startsWith('ENV ')) {
      envs.push(line.slice(3).replace(/^ +/, ''));
      continue;
    }
    const [input, expected] = line.split('|');
    cases.push([input.trim(), expected.replace(/^ +/, ''), [...envs]]);
  }

  it.each(cases)('%s -> %s', (input, expected, env) => {
    if (expected === 'error') expect(() => expandWords(input, envOf(env))).toThrow(ShellWordError);
    else expect(expandWords(input, envOf(env))).toEqual(expected.split(','));
  });
});

describe('BuildKit parser testfiles: the AST dump matches', () => {
  const dirs = fs.readdirSync(path.join(FIXTURES, 'parser', 'testfiles')).sort();

  it.each(dirs)('%s', (dir) => {
    const text = read('parser', 'testfiles', dir, 'Dockerfile');
    const expected = read('parser', 'testfiles', dir, 'result');
    const { nodes } = parseNodes(text, 'Dockerfile');
    const got = nodes.map((n) => `(${dumpNode(n)})\n`).join('');
    expect(got).toBe(expected);
  });
});

describe('BuildKit parser testfiles: the typed parse', () => {
  // The low-level dump accepts these but BuildKit's instruction parser rejects them; the
  // reasons are BuildKit's.
  const rejected: Record<string, RegExp> = {
    flags: /unknown flag: user/,
    health: /Unknown type "CONNECT" in HEALTHCHECK|Missing command after HEALTHCHECK CMD|requires at least one argument/,
  };
  const dirs = fs.readdirSync(path.join(FIXTURES, 'parser', 'testfiles')).sort();

  it.each(dirs)('%s', (dir) => {
    const text = read('parser', 'testfiles', dir, 'Dockerfile');
    const file = `${dir}/Dockerfile`;
    if (rejected[dir]) {
      expect(() => parseDockerfile(text, { file })).toThrow(rejected[dir]);
      return;
    }
    if (!/^\s*FROM/im.test(text)) {
      // the JSON-oddity files are lone CMD lines: no stage to put them in
      expect(() => parseDockerfile(text, { file })).toThrow(/Dockerfile:1:1: no build stage in current context/);
      return;
    }
    const df = parseDockerfile(text, { file });
    const count = df.globalArgs.length + df.stages.reduce((n, s) => n + 1 + s.instructions.length, 0);
    expect(count).toBe(read('parser', 'testfiles', dir, 'result').trim().split('\n').length);
  });
});

describe('BuildKit parser testfiles-negative: rejected with a location', () => {
  const dirs = fs.readdirSync(path.join(FIXTURES, 'parser', 'testfiles-negative')).sort();

  it.each(dirs)('%s', (dir) => {
    const text = read('parser', 'testfiles-negative', dir, 'Dockerfile');
    let err: unknown;
    try {
      parseDockerfile(text, { file: 'Dockerfile' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileError);
    expect((err as Error).message).toMatch(/^Dockerfile:\d+:\d+: \S/);
    expect((err as Error).message).not.toContain('\n');
  });
});
