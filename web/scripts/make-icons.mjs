// Writes the PWA's PNG icons (public/icons/icon-{192,512}.png): the favicon's house drawn
// pixel by pixel, so that no image tool is needed. Run once; the PNGs are committed.
import { writeFileSync, mkdirSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

const ORANGE = [0xd9, 0x48, 0x0f, 255]
const WHITE = [255, 255, 255, 255]
const CLEAR = [0, 0, 0, 0]

function crc32(buffer) {
  let crc = ~0
  for (const byte of buffer) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return ~crc >>> 0
}

function chunk(type, data) {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** The colour at (x, y) of a 64×64 design, like favicon.svg. */
function colour(x, y) {
  const inCorner = (cx, cy) => Math.hypot(x - cx, y - cy) > 14
  if ((x < 14 && y < 14 && inCorner(14, 14)) || (x > 50 && y < 14 && inCorner(50, 14))) return CLEAR
  if ((x < 14 && y > 50 && inCorner(14, 50)) || (x > 50 && y > 50 && inCorner(50, 50))) return CLEAR
  const roof = y >= 12 && y <= 31 && Math.abs(x - 32) <= ((y - 12) * 22) / 19
  const walls = y > 31 && y <= 51 && x >= 16 && x <= 48
  const door = y >= 39 && x >= 28 && x <= 36
  return (roof || walls) && !door ? WHITE : ORANGE
}

function png(size) {
  const rows = []
  for (let y = 0; y < size; y++) {
    const row = [0]
    for (let x = 0; x < size; x++) row.push(...colour((x * 64) / size, (y * 64) / size))
    rows.push(Buffer.from(row))
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header.set([8, 6, 0, 0, 0], 8)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

mkdirSync(new URL('../public/icons/', import.meta.url), { recursive: true })
for (const size of [192, 512]) {
  writeFileSync(new URL(`../public/icons/icon-${size}.png`, import.meta.url), png(size))
}
