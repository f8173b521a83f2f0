//! How small and how fast the history block codec is on realistic sensor data: bytes per
//! point of an hour (360 points) and a day (8,640 points) of 10-second readings, raw
//! message blocks as a share of their payload bytes, and encode/decode speed.
//!
//! ```text
//! cargo run --release -p hearth-store --example codec_ratio
//! ```
//!
//! The data is generated with a fixed seed, so the sizes are the same on every run (the
//! speeds are not). Not a test: it asserts nothing.
//!
//! Series (all with readings every 10 s):
//! - times "grid": `start + i * 10 s` plus normal jitter (σ 15 ms, so mostly within
//!   ±30 ms), as a device on a timer sends; times "drift": each interval 10 s plus normal
//!   jitter (σ 15 ms), as a device that sleeps 10 s after each send.
//! - temperature: a random walk (σ 0.02 °C a step) plus sensor noise (σ 0.03 °C),
//!   reported with two decimals.
//! - humidity: a slow random walk reported with one decimal (often unchanged).
//! - power: a base load of ~12 W with noise, with kettle-like spikes (1,800-2,200 W for
//!   a few minutes), one decimal.
//! - fahrenheit: the temperature converted by `c * 9 / 5 + 32` unrounded, a value from
//!   arithmetic that is not a short decimal (XOR mode).

use hearth_store::codec::{
    BlockMessage, decode_messages, decode_points, encode_messages, encode_points,
};
use std::time::Instant;

/// splitmix64: a small, seeded generator (no `rand` dependency for an example).
struct Random(u64);

impl Random {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A value as a device reports it with `decimals` decimals (what parsing "21.37" gives).
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

const START_MS: i64 = 1_765_090_000_000;

fn times(random: &mut Random, count: usize, drift: bool) -> Vec<i64> {
    let mut time = START_MS;
    (0..count)
        .map(|index| {
            let jitter = (random.normal() * 15.0).round() as i64;
            if drift {
                time += 10_000 + jitter;
                time
            } else {
                START_MS + index as i64 * 10_000 + jitter
            }
        })
        .collect()
}

struct Series {
    temperature: Vec<f64>,
    humidity: Vec<f64>,
    power: Vec<f64>,
    fahrenheit: Vec<f64>,
}

fn series(random: &mut Random, count: usize) -> Series {
    let (mut walk, mut humidity_walk) = (21.0, 45.0);
    let mut spike_left = 0;
    let mut spike_watts = 0.0;
    let mut series = Series {
        temperature: Vec::with_capacity(count),
        humidity: Vec::with_capacity(count),
        power: Vec::with_capacity(count),
        fahrenheit: Vec::with_capacity(count),
    };
    for _ in 0..count {
        walk += random.normal() * 0.02;
        let celsius = walk + random.normal() * 0.03;
        series.temperature.push(rounded(celsius, 2));
        series.fahrenheit.push(celsius * 9.0 / 5.0 + 32.0);
        humidity_walk += random.normal() * 0.05;
        series.humidity.push(rounded(humidity_walk, 1));
        if spike_left == 0 && random.uniform() < 0.002 {
            spike_left = 12 + (random.uniform() * 24.0) as usize;
            spike_watts = 1_800.0 + random.uniform() * 400.0;
        }
        let watts = if spike_left > 0 {
            spike_left -= 1;
            spike_watts + random.normal() * 15.0
        } else {
            12.0 + random.normal() * 0.4
        };
        series.power.push(rounded(watts.max(0.0), 1));
    }
    series
}

fn points_of(times: &[i64], values: &[f64]) -> Vec<(i64, f64)> {
    times.iter().copied().zip(values.iter().copied()).collect()
}

/// Points per second of encoding and of decoding `points`, repeated to ~2 M points.
fn points_speed(points: &[(i64, f64)]) -> (f64, f64) {
    let rounds = (2_000_000 / points.len()).max(1);
    let started = Instant::now();
    let mut data = Vec::new();
    for _ in 0..rounds {
        data = encode_points(std::hint::black_box(points));
    }
    let encode = (rounds * points.len()) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..rounds {
        let decoded = decode_points(std::hint::black_box(&data)).expect("decodes");
        std::hint::black_box(decoded);
    }
    let decode = (rounds * points.len()) as f64 / started.elapsed().as_secs_f64();
    (encode, decode)
}

fn messages(random: &mut Random, count: usize) -> Vec<BlockMessage> {
    let times = times(random, count, false);
    let series = series(random, count);
    let mut seq = 1_000_000i64;
    (0..count)
        .map(|index| {
            // Other devices' messages come in between: one device's seqs step by ~100.
            seq += 90 + (random.uniform() * 20.0) as i64;
            let payload = format!(
                r#"{{"temperature":{},"humidity":{},"power":{},"ts":{}}}"#,
                series.temperature[index],
                series.humidity[index],
                series.power[index],
                times[index]
            );
            BlockMessage {
                seq,
                kind: 0,
                received_at_ms: times[index] + 3 + (random.uniform() * 40.0) as i64,
                payload: payload.into_bytes(),
                json_ok: true,
                ts_clamped: false,
            }
        })
        .collect()
}

fn main() {
    println!("points: bytes per point (block bytes / points)");
    println!("{:<12} {:<6} {:>8} {:>8}", "series", "times", "360", "8640");
    let kinds = ["temperature", "humidity", "power", "fahrenheit"];
    let mut day_blocks = Vec::new();
    for kind in kinds {
        for drift in [false, true] {
            let mut row = format!("{kind:<12} {:<6}", if drift { "drift" } else { "grid" });
            for count in [360, 8_640] {
                let mut random = Random(42);
                let times = times(&mut random, count, drift);
                let series = series(&mut random, count);
                let values = match kind {
                    "temperature" => &series.temperature,
                    "humidity" => &series.humidity,
                    "power" => &series.power,
                    _ => &series.fahrenheit,
                };
                let points = points_of(&times, values);
                let data = encode_points(&points);
                let decoded = decode_points(&data).expect("decodes");
                assert_eq!(decoded.len(), points.len());
                row += &format!(" {:>8.3}", data.len() as f64 / count as f64);
                if count == 8_640 && !drift {
                    day_blocks.push((kind, points));
                }
            }
            println!("{row}");
        }
    }

    println!();
    println!("raw messages: block bytes as a share of payload bytes");
    for count in [360, 8_640] {
        let mut random = Random(7);
        let messages = messages(&mut random, count);
        let payload: usize = messages.iter().map(|message| message.payload.len()).sum();
        let data = encode_messages(&messages);
        assert_eq!(decode_messages(&data).expect("decodes"), messages);
        println!(
            "{count:>5} messages: {payload} payload bytes -> {} block bytes = {:.1} % ({:.1} B/message)",
            data.len(),
            100.0 * data.len() as f64 / payload as f64,
            data.len() as f64 / count as f64
        );
    }

    println!();
    println!("speed (points/s, one core; day blocks)");
    for (kind, points) in &day_blocks {
        let (encode, decode) = points_speed(points);
        println!(
            "{kind:<12} encode {:>6.1} M/s  decode {:>6.1} M/s",
            encode / 1e6,
            decode / 1e6
        );
    }
    let mut random = Random(7);
    let hour = messages(&mut random, 360);
    let rounds = 200;
    let started = Instant::now();
    let mut data = Vec::new();
    for _ in 0..rounds {
        data = encode_messages(std::hint::black_box(&hour));
    }
    let encode = (rounds * hour.len()) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(decode_messages(&data).expect("decodes"));
    }
    let decode = (rounds * hour.len()) as f64 / started.elapsed().as_secs_f64();
    println!(
        "messages     encode {:>6.2} M/s  decode {:>6.2} M/s (hour blocks)",
        encode / 1e6,
        decode / 1e6
    );
}
