// Copies index.js into the example mini program, which can only require files under its own
// root. `npm run sync-example`; test/sdk.test.js fails while the copy is out of date.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const SOURCE = path.join(__dirname, '..', 'index.js');
const TARGET = path.join(__dirname, '..', '..', '..', 'examples', 'miniprogram', 'lib', 'wxlogin.js');
const HEADER =
  '// A copy of sdk/miniprogram/index.js: a mini program can only require files under its own\n' +
  '// root. Do not edit it here; change the SDK and run `npm run sync-example` in sdk/miniprogram.\n';

function expected() {
  return HEADER + fs.readFileSync(SOURCE, 'utf8');
}

if (require.main === module) {
  fs.writeFileSync(TARGET, expected());
  console.log(`wrote ${path.relative(process.cwd(), TARGET)}`);
}

module.exports = { expected, TARGET };
