//! A simulated camera's snapshot: a small greyscale baseline JPEG drawn from a scene
//! that changes with every frame (a clock bar fills along the bottom, a figure walks
//! across while there is motion), so that a page showing it visibly updates.
//!
//! No image crate: every 8×8 block of the picture is flat (one grey level), so each
//! block is only its DC coefficient and an end-of-block code, which takes the standard
//! DC Huffman table (ITU T.81 Annex K.3) and a one-symbol AC table. That is a page of
//! code instead of a dependency, and any JPEG decoder (browsers included) reads it.

/// Blocks across and down: 160×120 pixels.
const BLOCKS_WIDE: usize = 20;
const BLOCKS_HIGH: usize = 15;

/// What the picture shows.
#[derive(Debug, Clone, Copy)]
pub struct Scene {
    /// Frames drawn so far: the clock bar's position.
    pub frame: u64,
    /// Where the walking figure stands (a block column), when there is motion.
    pub figure: Option<usize>,
}

/// The scene as grey levels, one per block, row by row.
fn draw(scene: Scene) -> Vec<u8> {
    let mut levels = vec![0u8; BLOCKS_WIDE * BLOCKS_HIGH];
    for row in 0..BLOCKS_HIGH {
        for column in 0..BLOCKS_WIDE {
            let level = if row < 9 {
                // Sky, lighter towards the horizon.
                (120 + row * 12) as u8
            } else {
                // Ground, a little texture.
                (70 + ((row + column) % 2) * 10) as u8
            };
            levels[row * BLOCKS_WIDE + column] = level;
        }
    }
    // A house: walls and a dark door.
    for row in 5..11 {
        for column in 12..18 {
            levels[row * BLOCKS_WIDE + column] = if column == 14 && row >= 8 { 40 } else { 210 };
        }
    }
    if let Some(column) = scene.figure {
        let column = column % BLOCKS_WIDE;
        for row in 8..12 {
            levels[row * BLOCKS_WIDE + column] = 15;
        }
    }
    // The clock bar: the bottom row fills one block per frame.
    let filled = (scene.frame % (BLOCKS_WIDE as u64 + 1)) as usize;
    for column in 0..filled {
        levels[(BLOCKS_HIGH - 1) * BLOCKS_WIDE + column] = 250;
    }
    levels
}

/// The scene as a JPEG.
pub fn jpeg(scene: Scene) -> Vec<u8> {
    encode(&draw(scene), BLOCKS_WIDE, BLOCKS_HIGH)
}

/// Encodes flat blocks (`levels`, one grey level per 8×8 block) as a baseline JPEG.
fn encode(levels: &[u8], blocks_wide: usize, blocks_high: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(300 + levels.len() * 2);
    out.extend_from_slice(&[0xff, 0xd8]); // SOI
    // JFIF APP0: version 1.1, no density, no thumbnail.
    out.extend_from_slice(&[
        0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    // DQT: table 0, every step 1 (flat blocks lose nothing to quantisation).
    out.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
    out.extend_from_slice(&[1u8; 64]);
    // SOF0: 8 bits, height, width, one component (id 1, no subsampling, table 0).
    let (width, height) = ((blocks_wide * 8) as u16, (blocks_high * 8) as u16);
    out.extend_from_slice(&[0xff, 0xc0, 0, 11, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[1, 1, 0x11, 0]);
    // DHT: DC table 0 (Annex K.3), AC table 0 with one symbol, end of block, code `0`.
    out.extend_from_slice(&[0xff, 0xc4, 0, 31, 0x00]);
    out.extend_from_slice(&[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    out.extend_from_slice(&[0xff, 0xc4, 0, 20, 0x10]);
    out.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.push(0x00);
    // SOS: the one component with tables 0/0, spectral selection 0..63.
    out.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    let mut bits = BitWriter::default();
    let mut previous_dc = 0i32;
    for level in levels {
        // The DC coefficient of a flat block of level L is 8 × (L − 128).
        let dc = 8 * (i32::from(*level) - 128);
        let diff = dc - previous_dc;
        previous_dc = dc;
        let category = 32 - diff.unsigned_abs().leading_zeros();
        let (code, length) = DC_CODES[category as usize];
        bits.put(code, length);
        if category > 0 {
            let value = if diff < 0 { diff - 1 } else { diff };
            bits.put(value as u32 & ((1 << category) - 1), category);
        }
        bits.put(0, 1); // end of block: every AC coefficient is zero
    }
    out.extend_from_slice(&bits.finish());
    out.extend_from_slice(&[0xff, 0xd9]); // EOI
    out
}

/// The standard luminance DC codes by category (code, length), Annex K.3 Table K.3.
const DC_CODES: [(u32, u32); 12] = [
    (0b00, 2),
    (0b010, 3),
    (0b011, 3),
    (0b100, 3),
    (0b101, 3),
    (0b110, 3),
    (0b1110, 4),
    (0b11110, 5),
    (0b111110, 6),
    (0b1111110, 7),
    (0b11111110, 8),
    (0b111111110, 9),
];

/// Entropy-coded bytes, most significant bit first, with 0xFF stuffed as the format
/// requires.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u32,
    n_bits: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, length: u32) {
        for shift in (0..length).rev() {
            self.current = (self.current << 1) | ((value >> shift) & 1);
            self.n_bits += 1;
            if self.n_bits == 8 {
                self.flush_byte();
            }
        }
    }

    fn flush_byte(&mut self) {
        let byte = self.current as u8;
        self.bytes.push(byte);
        if byte == 0xff {
            self.bytes.push(0);
        }
        self.current = 0;
        self.n_bits = 0;
    }

    /// Pads the last byte with one bits.
    fn finish(mut self) -> Vec<u8> {
        while self.n_bits != 0 {
            self.put(1, 1);
        }
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_a_jpeg_of_the_promised_size() {
        let image = jpeg(Scene {
            frame: 3,
            figure: Some(4),
        });
        assert_eq!(&image[..3], &[0xff, 0xd8, 0xff]);
        assert_eq!(&image[image.len() - 2..], &[0xff, 0xd9]);
        let sof = image
            .windows(2)
            .position(|pair| pair == [0xff, 0xc0])
            .expect("a baseline frame header");
        assert_eq!(&image[sof + 5..sof + 9], &[0, 120, 0, 160]);
        // Small enough to publish every few seconds, far below the broker's 1 MiB.
        assert!(image.len() < 2048, "{}", image.len());
    }

    #[test]
    fn the_picture_changes_from_frame_to_frame() {
        let first = jpeg(Scene {
            frame: 1,
            figure: None,
        });
        let second = jpeg(Scene {
            frame: 2,
            figure: None,
        });
        let walking = jpeg(Scene {
            frame: 1,
            figure: Some(3),
        });
        assert_ne!(first, second);
        assert_ne!(first, walking);
    }

    /// The web e2e test (web/tests/e2e/cameras.mjs) publishes this picture as a camera
    /// and checks that Chromium decodes it (160×120): the proof that the encoder writes
    /// what real decoders read. `HEARTH_UPDATE_FIXTURES=1` rewrites it.
    #[test]
    fn the_web_fixture_is_this_encoders_picture() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../web/tests/fixtures/camera-snapshot.jpg");
        let expected = jpeg(Scene {
            frame: 7,
            figure: Some(6),
        });
        if std::env::var_os("HEARTH_UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            expected,
            "{} is stale: run HEARTH_UPDATE_FIXTURES=1 cargo test -p hearth --lib simulate::snapshot",
            path.display()
        );
    }

    #[test]
    fn entropy_coded_bytes_stuff_0xff() {
        let mut bits = BitWriter::default();
        bits.put(0xff, 8);
        bits.put(0b1, 1);
        assert_eq!(bits.finish(), vec![0xff, 0x00, 0xff, 0x00]);
    }
}
