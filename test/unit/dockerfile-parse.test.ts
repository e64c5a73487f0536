/**
 * tsbuild's Dockerfile parser beyond BuildKit's tables: directives, continuations, heredocs,
 * exec vs shell form, flags and RUN mounts, stages, and errors that name file:line:col.
 * Heredoc cases are BuildKit's parser_heredoc_test facts.
 */
import { parseDockerfile, parseMount, DockerfileError, type Instruction } from '../../packages/builder/src/dockerfile';

const parse = (text: string) => parseDockerfile(text, { file: 'Dockerfile' });
/** The instructions of the only stage of `FROM scratch\n<body>`. */
const body = (text: string): Instruction[] => parse(`FROM scratch\n${text}`).stages[0].instructions;
const one = <K extends Instruction['kind']>(text: string, kind: K): Extract<Instruction, { kind: K }> => {
  const [ins] = body(text);
  expect(ins.kind).toBe(kind);
  return ins as Extract<Instruction, { kind: K }>;
};

describe('parser directives', () => {
  it.each([
    ['# syntax=docker/dockerfile:1\nFROM a', { syntax: 'docker/dockerfile:1', escape: '\\' }],
    ['#syntax = docker/dockerfile:1.7  \nFROM a', { syntax: 'docker/dockerfile:1.7', escape: '\\' }],
    ['# SYNTAX=x\n# Escape=`\nFROM a', { syntax: 'x', escape: '`' }],
    ['# check=skip=all\nFROM a', { check: 'skip=all', escape: '\\' }],
    ['# escape=\\\nFROM a', { escape: '\\' }],
    ['# comment\n# escape=`\nFROM a', { escape: '\\' }], // after a comment it is a comment
    ['\n# escape=`\nFROM a', { escape: '\\' }], // after a blank line too
    ['FROM a\n# escape=`', { escape: '\\' }],
    ['# unknown=1\n# escape=`\nFROM a', { escape: '\\' }], // an unknown key ends the directives
  ])('%j', (text, expected) => {
    expect(parse(text).directives).toEqual(expected);
  });

  it.each([
    ['# escape=x\nFROM a', 'Dockerfile:1:1: invalid escape token \'x\' does not match ` or \\'],
    ['# escape=`\n# escape=\\\nFROM a', 'Dockerfile:2:1: only one escape parser directive can be used'],
    ['# syntax=a\n# syntax=b\nFROM a', 'Dockerfile:2:1: only one syntax parser directive can be used'],
  ])('rejects %j', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  it('the backtick escape continues lines and keeps backslashes literal', () => {
    expect(parse('# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo ok').stages[0].instructions[0]).toMatchObject({
      cmd: { json: false, command: 'dir c:\\   && echo ok' },
    });
    // with the default escape the line does not continue: the next line is an instruction
    expect(() => body('RUN dir c:\\ `\n  && echo ok')).toThrow('Dockerfile:3:3: unknown instruction: &&');
  });
});

describe('continuation lines', () => {
  it.each([
    ['RUN a \\\n  b', 'a   b'],
    ['RUN a \\\n# a comment inside\n  b', 'a   b'],
    ['RUN a \\\n    # an indented comment\n  b', 'a   b'],
    ['RUN a \\\n\n\n  b', 'a   b'], // blank lines inside are skipped
    ['RUN a \\  \t\nb', 'a b'], // blanks after the escape char
    ['RUN a\\\\\nRUN b', 'a\\\\'], // an escaped escape ends the line
    ['RUN a \\', 'a'], // continuation at end of file
  ])('%j', (text, command) => {
    expect(body(text)[0]).toMatchObject({ kind: 'RUN', cmd: { json: false, command } });
  });

  it('locations span the physical lines', () => {
    const [run, env] = body('  RUN a \\\n  b \\\n  c\nENV x=1');
    expect(run.location).toEqual({ file: 'Dockerfile', line: 2, column: 3, endLine: 4 });
    expect(env.location).toEqual({ file: 'Dockerfile', line: 5, column: 1, endLine: 5 });
    expect(run.original).toBe('RUN a   b   c');
  });
});

describe('exec form vs shell form', () => {
  it.each([
    ['CMD ["a", "b"]', { json: true, args: ['a', 'b'] }],
    ['CMD []', { json: true, args: [] }],
    ['CMD [ "a" ] ', { json: true, args: ['a'] }],
    ['CMD ["a\\u0041\\n"]', { json: true, args: ['aA\n'] }],
    ['CMD [\'a\']', { json: false, command: "['a']" }],
    ['CMD ["a",]', { json: false, command: '["a",]' }],
    ['CMD ["a"] extra', { json: false, command: '["a"] extra' }],
    ['CMD echo "$HOME"', { json: false, command: 'echo "$HOME"' }],
    ['ENTRYPOINT ["/bin/sh", "-c"]', { json: true, args: ['/bin/sh', '-c'] }],
    ['RUN ["echo", "<<EOF"]', { json: true, args: ['echo', '<<EOF'] }],
  ])('%s', (text, cmd) => {
    expect((body(text)[0] as { cmd: unknown }).cmd).toEqual(cmd);
  });

  it.each(['CMD ["a", 1]', 'RUN ["a", null]', 'ENTRYPOINT [["a"]]', 'COPY ["a", 2, "/b"]'])('%s: JSON arrays must hold strings', (text) => {
    expect(() => body(text)).toThrow('Dockerfile:2:');
    expect(() => body(text)).toThrow('arrays must be comprised of strings only');
  });

  it('COPY/ADD/VOLUME take the array or whitespace-separated words', () => {
    expect(one('COPY ["a b", "/c d/"]', 'COPY')).toMatchObject({ json: true, sources: ['a b'], dest: '/c d/' });
    expect(one('ADD  a   b\t/c', 'ADD')).toMatchObject({ json: false, sources: ['a', 'b'], dest: '/c' });
    expect(one('VOLUME /a /b', 'VOLUME').paths).toEqual(['/a', '/b']);
    expect(one('VOLUME ["/a b"]', 'VOLUME')).toMatchObject({ json: true, paths: ['/a b'] });
  });

  it('SHELL needs the JSON form', () => {
    expect(one('SHELL ["/bin/bash", "-c"]', 'SHELL').shell).toEqual(['/bin/bash', '-c']);
    expect(() => body('SHELL /bin/bash -c')).toThrow('Dockerfile:2:1: SHELL requires the arguments to be in JSON form');
  });
});

describe('heredocs', () => {
  const text = [
    'FROM alpine', 'RUN <<EMPTY', 'EMPTY', 'RUN 3<<EMPTY2', 'EMPTY2', 'RUN "<<NOHEREDOC"',
    'RUN <<INDENT', '\tfoo', '\tbar', 'INDENT',
    'RUN <<-UNINDENT', '\tbaz', '\tquux', '\tUNINDENT',
    "RUN <<-'NOEXPAND'", "\tdon't expand $NAME", 'NOEXPAND',
    'RUN <<COMMENT', '# internal comment', 'echo hi # trailing', 'COMMENT',
    'RUN --mount=type=cache,target=/foo <<MOUNT', 'echo hello', 'MOUNT',
    'COPY <<FILE1 <<FILE2 /dest', 'content 1', 'FILE1', 'content 2', 'FILE2',
    'COPY <<X <<Y /dest', 'Y', 'X', 'X', 'Y',
    'RUN <<COMPLEX python3', "print('hello world')", 'COMPLEX',
    "RUN <<eo'f'", 'echo foo', 'eof',
    "RUN <<eo\\'f", 'echo foo', "eo'f",
    "RUN <<'e'o\\'f", 'echo foo', "eo'f",
    "RUN <<'one two'", 'echo bar', 'one two',
    'RUN <<$EOF', '$EOF',
    'RUN <<  EOF', 'EOF',
    'RUN <<  EOF  > foo', 'EOF',
    'RUN cat <<A <<-"B"', 'a', 'A', '\tb', '\tB',
    'ENV X=<<NOTHERE',
  ].join('\n');
  const ins = parseDockerfile(text).stages[0].instructions;
  const docs = ins.map((i) => ('heredocs' in i ? i.heredocs.map((h) => [h.name, h.content, h.expand, h.chomp]) : null));

  it.each([
    [0, [['EMPTY', '', true, false]]],
    [1, [['EMPTY2', '', true, false]]],
    [2, []],
    [3, [['INDENT', '\tfoo\n\tbar\n', true, false]]],
    [4, [['UNINDENT', 'baz\nquux\n', true, true]]],
    [5, [['NOEXPAND', "don't expand $NAME\n", false, true]]],
    [6, [['COMMENT', '# internal comment\necho hi # trailing\n', true, false]]],
    [7, [['MOUNT', 'echo hello\n', true, false]]],
    [8, [['FILE1', 'content 1\n', true, false], ['FILE2', 'content 2\n', true, false]]],
    [9, [['X', 'Y\n', true, false], ['Y', 'X\n', true, false]]],
    [10, [['COMPLEX', "print('hello world')\n", true, false]]],
    [11, [['eof', 'echo foo\n', false, false]]],
    [12, [["eo'f", 'echo foo\n', true, false]]],
    [13, [["eo'f", 'echo foo\n', false, false]]],
    [14, [['one two', 'echo bar\n', false, false]]],
    [15, [['$EOF', '', true, false]]],
    [16, [['EOF', '', true, false]]],
    [17, [['EOF', '', true, false]]],
    [18, [['A', 'a\n', true, false], ['B', 'b\n', false, true]]],
    [19, null], // ENV has no heredocs
  ])('instruction %d', (i, expected) => {
    expect(docs[i]).toEqual(expected);
  });

  it('COPY heredoc sources are files, not paths; RUN keeps the line', () => {
    const copy = ins[8];
    expect(copy).toMatchObject({ kind: 'COPY', sources: [], dest: '/dest' });
    expect(ins[10]).toMatchObject({ kind: 'RUN', cmd: { json: false, command: '<<COMPLEX python3' } });
    expect(ins[7]).toMatchObject({ kind: 'RUN', mounts: [{ type: 'cache', target: '/foo', readOnly: false }] });
  });

  it('locations cover the bodies', () => {
    expect(ins[3].location).toMatchObject({ line: 7, endLine: 10 });
    expect(ins[4].location).toMatchObject({ line: 11, endLine: 14 });
  });

  it('ONBUILD triggers carry their heredocs', () => {
    const [ob] = body('ONBUILD RUN <<EOF\necho hi\nEOF');
    expect(ob).toMatchObject({ kind: 'ONBUILD', expression: 'RUN <<EOF\necho hi\nEOF', instruction: { kind: 'RUN', heredocs: [{ name: 'EOF', content: 'echo hi\n' }] } });
  });

  it.each([
    ['RUN <<EOF\necho hi\n', 'Dockerfile:2:5: unterminated heredoc EOF'],
    ['COPY a <<EOF\nx\nEOF', 'Dockerfile:2:1: COPY cannot accept a heredoc as a destination'],
  ])('rejects %j', (text, message) => {
    expect(() => body(text)).toThrow(message);
  });
});

describe('ENV, LABEL, ARG', () => {
  it.each([
    ['ENV A B', [{ key: 'A', value: 'B' }]],
    ['ENV A B C  D', [{ key: 'A', value: 'B C  D' }]],
    ['ENV A=1 B="2 3" C=4\\ 5', [{ key: 'A', value: '1' }, { key: 'B', value: '"2 3"' }, { key: 'C', value: '4\\ 5' }]],
    ['ENV A=', [{ key: 'A', value: '' }]],
    ['ENV A="" B=\'\'', [{ key: 'A', value: '""' }, { key: 'B', value: "''" }]],
    ['ENV A=a=b', [{ key: 'A', value: 'a=b' }]],
    ['LABEL "com.x"="a b" y=z', [{ key: '"com.x"', value: '"a b"' }, { key: 'y', value: 'z' }]],
    ['LABEL maintainer Me <me@x>', [{ key: 'maintainer', value: 'Me <me@x>' }]],
  ])('%s', (text, pairs) => {
    expect((body(text)[0] as { pairs: unknown }).pairs).toEqual(pairs);
  });

  it.each([
    ['ENV A=1 B', "Syntax error - can't find = in \"B\". Must be of the form: name=value"],
    ['ENV A', 'ENV must have two arguments'],
    ['ENV =1', 'ENV names can not be blank'],
    ['LABEL', 'LABEL requires at least one argument'],
    ['ARG', 'ARG requires at least one argument'],
    ['ARG =x', 'ARG names can not be blank'],
  ])('rejects %s', (text, message) => {
    expect(() => body(text)).toThrow(`Dockerfile:2:`);
    expect(() => body(text)).toThrow(message);
  });

  it('ARG: several per line, optional defaults, global before FROM', () => {
    const df = parse('ARG V=1 W\nARG X="a b"\nFROM img:${V}\nARG V\nRUN x');
    expect(df.globalArgs.map((a) => a.args)).toEqual([[{ key: 'V', value: '1' }, { key: 'W' }], [{ key: 'X', value: '"a b"' }]]);
    expect(df.stages[0].from.image).toBe('img:${V}');
    expect(df.stages[0].instructions[0]).toMatchObject({ kind: 'ARG', args: [{ key: 'V' }] });
  });
});

describe('FROM and stages', () => {
  it('names, platforms, indexes', () => {
    const df = parse('FROM --platform=$BUILDPLATFORM golang AS Build\nRUN make\nFROM scratch\nCOPY --from=build /a /b\nFROM build as Final');
    expect(df.stages.map((s) => [s.index, s.name, s.from.image, s.from.platform])).toEqual([
      [0, 'build', 'golang', '$BUILDPLATFORM'],
      [1, undefined, 'scratch', undefined],
      [2, 'final', 'build', undefined],
    ]);
    expect(df.stages[0].location).toMatchObject({ line: 1, endLine: 2 });
    expect(df.stages[1].instructions[0]).toMatchObject({ kind: 'COPY', from: 'build' });
  });

  it.each([
    ['FROM a AS 1x', 'Dockerfile:1:1: invalid name for build stage: "1x", name can\'t start with a number or contain symbols'],
    ['FROM a AS b c', 'Dockerfile:1:1: FROM requires either one or three arguments'],
    ['FROM', 'Dockerfile:1:1: FROM requires either one or three arguments'],
    ['FROM a AS x\nFROM b AS X', 'Dockerfile:2:1: duplicate stage name "x"'],
    ['RUN x\nFROM a', 'Dockerfile:1:1: no build stage in current context'],
    ['ARG a', 'Dockerfile:1:1: no FROM instruction'],
    ['# only a comment\n', 'Dockerfile:1:1: file with no instructions'],
    ['FROM a\nFOO bar', 'Dockerfile:2:1: unknown instruction: FOO'],
    ['FROM a\n   bogus x', 'Dockerfile:2:4: unknown instruction: bogus'],
    ['FROM --plat=x a', 'Dockerfile:1:6: unknown flag: plat'],
  ])('rejects %j', (text, message) => {
    let err: unknown;
    try {
      parse(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileError);
    expect((err as Error).message.startsWith(message)).toBe(true);
  });

  it('the file name in locations and errors is the one given', () => {
    expect(() => parseDockerfile('FROM a\nWORKDIR', { file: 'sub/app.Dockerfile' })).toThrow('sub/app.Dockerfile:2:1: WORKDIR requires exactly one argument');
  });
});

describe('COPY/ADD flags', () => {
  it('COPY with every flag', () => {
    expect(one('COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/', 'COPY')).toMatchObject({
      from: 'build', chown: '1:2', chmod: '0755', link: true, parents: true, exclude: ['*.md', 'x'], sources: ['a', 'b'], dest: '/d/',
    });
  });
  it('ADD with every flag', () => {
    expect(one('ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --link=false http://x/a.tgz /d', 'ADD')).toMatchObject({
      checksum: 'sha256:abc', keepGitDir: true, unpack: false, link: false, sources: ['http://x/a.tgz'],
    });
    expect(one('ADD a /d', 'ADD')).toMatchObject({ unpack: undefined, keepGitDir: false, link: false, exclude: [] });
  });
  it('a quoted flag value and `--` ending the flags', () => {
    expect(one('COPY --chown="a b" -- --weird /d', 'COPY')).toMatchObject({ chown: 'a b', sources: ['--weird'] });
  });
  it.each([
    ['COPY --from a /b', 'Dockerfile:2:6: missing a value on flag: from'],
    ['COPY --link=maybe a /b', 'Dockerfile:2:6: expecting boolean value for flag link, not: maybe'],
    ['COPY --chown=1 --chown=2 a /b', 'Dockerfile:2:6: duplicate flag specified: chown'],
    ['ADD --from=x a /b', 'Dockerfile:2:5: unknown flag: from'],
    ['COPY --checksum=x a /b', 'Dockerfile:2:6: unknown flag: checksum'],
    ['COPY a', 'Dockerfile:2:1: COPY requires at least two arguments'],
    ['ENV --x=1 A=b', 'Dockerfile:2:5: unknown flag: x'],
  ])('rejects %s', (text, message) => {
    expect(() => body(text)).toThrow(message);
  });
});

describe('RUN flags and mounts', () => {
  it.each([
    ['type=cache,target=/root/.cache', { type: 'cache', target: '/root/.cache', readOnly: false, required: false }],
    ['type=cache,target=/c,id=go,sharing=locked,mode=0700,uid=1,gid=2', { id: 'go', sharing: 'locked', mode: 0o700, uid: 1, gid: 2 }],
    ['target=/src', { type: 'bind', target: '/src', readOnly: true }],
    ['type=bind,source=a,target=/a,from=build,rw', { source: 'a', from: 'build', readOnly: false }],
    ['type=bind,src=a,dst=/a,readwrite=true', { source: 'a', target: '/a', readOnly: false }],
    ['type=tmpfs,target=/t,size=64m', { type: 'tmpfs', size: 64 * 1024 * 1024, readOnly: false }],
    ['type=secret,id=tok', { type: 'secret', id: 'tok', readOnly: true, required: false }],
    ['type=secret,id=tok,required', { required: true }],
    ['type=secret,id=tok,env=TOKEN', { env: 'TOKEN' }],
    ['type=ssh,required=true', { type: 'ssh', required: true }],
    ['TYPE=CACHE,target=/x', { type: 'cache' }],
  ])('--mount=%s', (spec, expected) => {
    expect(parseMount(spec)).toMatchObject(expected);
    expect(one(`RUN --mount=${spec} true`, 'RUN').mounts[0]).toMatchObject(expected);
  });

  it.each([
    ['type=nfs,target=/x', 'unsupported mount type "nfs"'],
    ['type=cache', 'mount type cache requires a target'],
    ['type=bind,target=/x,mode=0700', 'mode not allowed for "bind" type mounts'],
    ['type=tmpfs,target=/x,uid=1', 'uid not allowed for "tmpfs" type mounts'],
    ['type=cache,target=/x,sharing=maybe', 'unsupported sharing value "maybe"'],
    ['type=bind,target=/x,sharing=locked', 'invalid cache sharing set for bind mount'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=secret,id=a,from=b', 'secret mount should not have a from'],
    ['type=cache,target=/x,size=1', "unexpected key 'size' for mount type 'cache'"],
    ['type=cache,target=/x,required', "unexpected key 'required' for mount type 'cache'"],
    ['type=cache,target=/x,bogus=1', "unexpected key 'bogus' in 'bogus=1'"],
    ['type=cache,target=/x,bogus', "invalid field 'bogus' must be a key=value pair"],
    ['type=cache,target=/x,ro=maybe', 'invalid value for ro: maybe'],
    ['type=cache,target=/x,mode=9', 'invalid value 9 for mode'],
    ['type=bind,target=/x,from=$STAGE', "'from' doesn't support variable expansion, define alias stage instead"],
  ])('rejects --mount=%s', (spec, message) => {
    expect(() => body(`RUN --mount=${spec} true`)).toThrow(`Dockerfile:2:13: ${message}`);
  });

  it('csv quoting inside a mount value', () => {
    expect(parseMount('type=bind,"target=/a,b"')).toMatchObject({ target: '/a,b' });
    expect(one(`RUN --mount='type=bind,"target=/a,b"' true`, 'RUN').mounts[0]).toMatchObject({ target: '/a,b' });
    expect(() => parseMount('type=bind,"target=/a')).toThrow('failed to parse csv mounts');
  });

  it('mount values with variables are re-parsed with an expander at build time', () => {
    const m = one('RUN --mount=type=cache,target=/c,uid=$UID true', 'RUN').mounts[0];
    expect(m.needsExpansion).toBe(true);
    expect(m.uid).toBeUndefined();
    expect(parseMount(m.raw, (v) => v.replace('$UID', '1000'))).toMatchObject({ needsExpansion: false, uid: 1000 });
  });

  it('--network and --security', () => {
    expect(one('RUN --network=none --security=insecure true', 'RUN')).toMatchObject({ network: 'none', security: 'insecure' });
    expect(() => body('RUN --network=bridge true')).toThrow('Dockerfile:2:1: unsupported network mode "bridge"');
    expect(() => body('RUN --security=x true')).toThrow('unsupported security mode "x"');
    expect(() => body('RUN --mounts=x true')).toThrow('Dockerfile:2:5: unknown flag: mounts');
  });
});

describe('the other instructions', () => {
  it('HEALTHCHECK', () => {
    expect(one('HEALTHCHECK NONE', 'HEALTHCHECK').test).toEqual(['NONE']);
    expect(one('HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=3 CMD curl -f x || exit 1', 'HEALTHCHECK')).toEqual(
      expect.objectContaining({ test: ['CMD-SHELL', 'curl -f x || exit 1'], interval: 90e9, timeout: 500e6, startPeriod: 2e9, startInterval: 1e9, retries: 3 }),
    );
    expect(one('HEALTHCHECK cmd ["/bin/check", "-q"]', 'HEALTHCHECK').test).toEqual(['CMD', '/bin/check', '-q']);
  });
  it.each([
    ['HEALTHCHECK NONE x', 'HEALTHCHECK NONE takes no arguments'],
    ['HEALTHCHECK CMD', 'Missing command after HEALTHCHECK CMD'],
    ['HEALTHCHECK --interval=1us CMD x', 'Interval "interval" cannot be less than 1ms'],
    ['HEALTHCHECK --interval=5 CMD x', 'time: missing unit in duration "5"'],
    ['HEALTHCHECK --retries=-1 CMD x', '--retries cannot be negative (-1)'],
    ['HEALTHCHECK --retry=1 CMD x', 'unknown flag: retry'],
  ])('rejects %s', (text, message) => {
    expect(() => body(text)).toThrow(message);
  });

  it.each([
    ['WORKDIR /a b', { path: '/a b' }],
    ['USER app:app', { user: 'app:app' }],
    ['EXPOSE 80/tcp 53/udp', { ports: ['80/tcp', '53/udp'] }],
    ['STOPSIGNAL SIGKILL', { signal: 'SIGKILL' }],
    ['MAINTAINER Jane <j@x>', { maintainer: 'Jane <j@x>' }],
    ['onbuild copy . /app', { kind: 'ONBUILD', expression: 'copy . /app', instruction: { kind: 'COPY', sources: ['.'], dest: '/app' } }],
    ['run   echo  hi', { kind: 'RUN', original: 'run   echo  hi', cmd: { json: false, command: 'echo  hi' } }],
  ])('%s', (text, expected) => {
    expect(body(text)[0]).toMatchObject(expected);
  });

  it.each([
    ['ONBUILD ONBUILD RUN x', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed'],
    ['ONBUILD FROM x', "FROM isn't allowed as an ONBUILD trigger"],
    ['ONBUILD', 'ONBUILD requires at least one argument'],
    ['USER', 'USER requires exactly one argument'],
    ['EXPOSE', 'EXPOSE requires at least one argument'],
    ['VOLUME [""]', 'VOLUME specified can not be an empty string'],
  ])('rejects %s', (text, message) => {
    expect(() => body(text)).toThrow(message);
  });
});
