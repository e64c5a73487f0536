/** What the benchmarks share: finding a peer's binary, and the median of a sample. */
'use strict';
const fs = require('fs');
const path = require('path');

/** The path of `name` on PATH (plus the sbin dirs, where Debian puts runc), or undefined. */
function which(name) {
  for (const dir of (process.env.PATH + ':/usr/sbin:/sbin').split(':')) {
    const p = path.join(dir, name);
    if (dir && fs.existsSync(p)) return p;
  }
  return undefined;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

module.exports = { which, median };
