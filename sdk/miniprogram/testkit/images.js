// Image files for the avatar tests, made here rather than checked in: a real PNG of any size
// (zlib and CRC-32 by hand, nothing else needed), and files that are not acceptable avatars.
'use strict';

const zlib = require('node:zlib');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid RGB PNG, width x height, in one colour. */
function png(width = 64, height = 64, [r, g, b] = [0x2a, 0x9d, 0x8f]) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set([r, g, b], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Text with an image's name: the server must look at the bytes. */
function notAnImage() {
  return Buffer.from('this is not an image, whatever its name says\n');
}

/** Over the 1 MiB limit, starting like a PNG. */
function tooLarge() {
  const bytes = Buffer.alloc(1024 * 1024 + 4096, 0x41);
  png(1, 1).copy(bytes, 0, 0, 16);
  return bytes;
}

module.exports = { png, notAnImage, tooLarge, crc32 };
