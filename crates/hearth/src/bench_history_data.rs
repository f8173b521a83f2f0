//! The readings of `hearth bench history`: what a home's sensors send, deterministic
//! from a seed so that two runs (or two backends) store exactly the same history.
//!
//! Every device reports every 10 s at its own phase within those 10 s, with a normally
//! distributed jitter of tens of milliseconds (a device's timer, Wi-Fi and the
//! broker), and three metrics:
//! - `temperature` (°C, 0.01 resolution): a base, a slow daily cycle peaking in the
//!   afternoon, a mean-reverting random walk (weather, heating) and sensor noise;
//! - `humidity` (%, 0.1 resolution): the same shape, in opposite phase to temperature;
//! - `power` (W, 0.1 resolution): an appliance switching between standby and on (each
//!   state lasting minutes to hours), with an inrush spike when it switches on, a little
//!   noise while on and rare spikes.
//!
//! Values are rounded to their resolution the way a device's JSON would carry them, so
//! the stored point is exactly the number its payload parses to.

use hearth_model::{DeviceId, MessageKind, Millis, Point};
use hearth_store::{IngestBatch, LiveUpdate, NewMessage};

/// Time between two readings of a device.
pub const INTERVAL_MS: Millis = 10_000;
/// One day.
pub const DAY_MS: Millis = 86_400_000;
/// The metrics every device reports.
pub const METRICS: [&str; 3] = ["temperature", "humidity", "power"];

/// A small deterministic generator (SplitMix64): the bench needs reproducible noise,
/// not cryptographic quality, and no dependency for it.
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Standard normal (Box–Muller; the second value is dropped for simplicity).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// One reading of one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub at_ms: Millis,
    pub temperature: f64,
    pub humidity: f64,
    pub power: f64,
}

impl Reading {
    /// The JSON payload the device would have sent for this reading.
    pub fn payload(&self) -> String {
        format!(
            r#"{{"temperature":{:.2},"humidity":{:.1},"power":{:.1}}}"#,
            self.temperature, self.humidity, self.power
        )
    }
}

/// One simulated device and its state between readings.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub id: DeviceId,
    noise: Noise,
    phase_ms: Millis,
    jitter_ms: f64,
    temp_base: f64,
    temp_amplitude: f64,
    temp_walk: f64,
    humidity_base: f64,
    humidity_amplitude: f64,
    humidity_walk: f64,
    standby_w: f64,
    on_w: f64,
    on: bool,
    /// Chance per reading of switching on (off) : 10 s over the mean off (on) time.
    switch_on_chance: f64,
    switch_off_chance: f64,
}

impl SimDevice {
    pub fn new(id: DeviceId, index: usize, seed: u64, jitter_ms: f64) -> SimDevice {
        let mut noise = Noise::new(seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        // Skip a few values so that neighbouring seeds do not start alike.
        for _ in 0..4 {
            noise.next_u64();
        }
        let phase_ms = (noise.unit() * INTERVAL_MS as f64) as Millis;
        let mean_off_s = noise.range(1_800.0, 4.0 * 3_600.0);
        let mean_on_s = noise.range(300.0, 3_600.0);
        SimDevice {
            id,
            phase_ms,
            jitter_ms,
            temp_base: noise.range(18.5, 23.5),
            temp_amplitude: noise.range(0.5, 2.5),
            temp_walk: 0.0,
            humidity_base: noise.range(35.0, 60.0),
            humidity_amplitude: noise.range(2.0, 6.0),
            humidity_walk: 0.0,
            standby_w: noise.range(0.3, 2.0),
            // Log-uniform from a phone charger to a kettle.
            on_w: (noise.range(5f64.ln(), 2_000f64.ln())).exp(),
            on: noise.unit() < 0.3,
            switch_on_chance: INTERVAL_MS as f64 / 1_000.0 / mean_off_s,
            switch_off_chance: INTERVAL_MS as f64 / 1_000.0 / mean_on_s,
            noise,
        }
    }

    /// The reading of slot `slot` (10 s steps since `epoch_ms`); call with consecutive
    /// slots, since the random walks and the appliance's state carry over.
    pub fn reading(&mut self, epoch_ms: Millis, slot: i64) -> Reading {
        let nominal = epoch_ms + slot * INTERVAL_MS + self.phase_ms;
        let jitter = (self.noise.normal() * self.jitter_ms).round() as Millis;
        // Never across the neighbouring slot: a device's readings stay in order.
        let at_ms = nominal + jitter.clamp(-INTERVAL_MS / 3, INTERVAL_MS / 3);

        let day_fraction = (at_ms.rem_euclid(DAY_MS)) as f64 / DAY_MS as f64;
        // Warmest at 16:00, most humid at 04:00.
        let cycle = (std::f64::consts::TAU * (day_fraction - 16.0 / 24.0)).cos();

        self.temp_walk = 0.9995 * self.temp_walk + 0.02 * self.noise.normal();
        let temperature = self.temp_base
            + self.temp_amplitude * cycle
            + self.temp_walk
            + 0.015 * self.noise.normal();

        self.humidity_walk = 0.9995 * self.humidity_walk + 0.05 * self.noise.normal();
        let humidity = (self.humidity_base - self.humidity_amplitude * cycle
            + self.humidity_walk
            + 0.1 * self.noise.normal())
        .clamp(0.0, 100.0);

        let switched_on = !self.on && self.noise.unit() < self.switch_on_chance;
        if switched_on {
            self.on = true;
        } else if self.on && self.noise.unit() < self.switch_off_chance {
            self.on = false;
        }
        let mut power = if self.on {
            self.on_w * (1.0 + 0.01 * self.noise.normal())
        } else {
            self.standby_w + 0.05 * self.noise.normal()
        };
        if switched_on {
            power *= self.noise.range(2.0, 4.0);
        } else if self.noise.unit() < 0.000_5 {
            power *= self.noise.range(1.5, 3.0);
        }

        Reading {
            at_ms,
            temperature: round_to(temperature, 100.0),
            humidity: round_to(humidity, 10.0),
            power: round_to(power, 10.0).max(0.0),
        }
    }
}

/// `value` rounded to 1/`per_unit`, as the nearest double to the decimal a device would
/// print (an exact integer divided by an exact power of ten is correctly rounded). Never
/// -0.0, which would print as "-0.0".
fn round_to(value: f64, per_unit: f64) -> f64 {
    let rounded = (value * per_unit).round() / per_unit;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// The fleet of one run: its devices, the first day and how many days get raw messages.
pub struct Fleet {
    pub devices: Vec<SimDevice>,
    /// Midnight (UTC) of the first simulated day.
    pub start_ms: Millis,
    pub days: u32,
    /// Raw messages are generated for the last this many days (their retention).
    pub message_days: u32,
}

/// What a chunk added, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChunkCounts {
    pub readings: u64,
    pub messages: u64,
    pub payload_bytes: u64,
    /// The nominal time the chunk's last slot ends: "now" once it is written.
    pub until_ms: Millis,
}

impl Fleet {
    /// The batches of day `day` (0-based), each of about `chunk_messages` device
    /// reports in time order across devices, with one live update per device per batch
    /// as ingest would write them. Made one at a time, so only one is in memory.
    pub fn day_chunks(
        &mut self,
        day: u32,
        chunk_messages: usize,
    ) -> impl Iterator<Item = (IngestBatch, ChunkCounts)> + '_ {
        let with_messages = day + self.message_days >= self.days;
        let slots_per_day = DAY_MS / INTERVAL_MS;
        let slots_per_chunk = (chunk_messages / self.devices.len().max(1)).max(1) as i64;
        let day_end = (day as i64 + 1) * slots_per_day;
        let mut slot = day as i64 * slots_per_day;
        std::iter::from_fn(move || {
            if slot >= day_end {
                return None;
            }
            let end = (slot + slots_per_chunk).min(day_end);
            let chunk = self.chunk(slot..end, with_messages);
            slot = end;
            Some(chunk)
        })
    }

    fn chunk(
        &mut self,
        slots: std::ops::Range<i64>,
        with_messages: bool,
    ) -> (IngestBatch, ChunkCounts) {
        let len = (slots.end - slots.start) as usize * self.devices.len();
        let mut batch = IngestBatch {
            points: Vec::with_capacity(len * METRICS.len()),
            messages: Vec::with_capacity(if with_messages { len } else { 0 }),
            ..IngestBatch::default()
        };
        let mut counts = ChunkCounts {
            until_ms: self.start_ms + slots.end * INTERVAL_MS,
            ..ChunkCounts::default()
        };
        let mut last: Vec<Option<Reading>> = vec![None; self.devices.len()];
        for slot in slots {
            for (index, device) in self.devices.iter_mut().enumerate() {
                let reading = device.reading(self.start_ms, slot);
                for (metric, value) in
                    METRICS
                        .iter()
                        .zip([reading.temperature, reading.humidity, reading.power])
                {
                    batch.points.push(Point {
                        device: device.id.clone(),
                        metric: (*metric).to_owned(),
                        at_ms: reading.at_ms,
                        value,
                    });
                }
                counts.readings += METRICS.len() as u64;
                if with_messages {
                    let payload = reading.payload();
                    counts.messages += 1;
                    counts.payload_bytes += payload.len() as u64;
                    batch.messages.push(NewMessage {
                        device: device.id.clone(),
                        kind: MessageKind::Data,
                        received_at_ms: reading.at_ms,
                        payload: payload.into(),
                        json_ok: true,
                        ts_clamped: false,
                    });
                }
                last[index] = Some(reading);
            }
        }
        batch.live = self
            .devices
            .iter()
            .zip(last)
            .filter_map(|(device, reading)| {
                let reading = reading?;
                Some(LiveUpdate {
                    device: Some(device.id.clone()),
                    is_online: Some(true),
                    last_seen_ms: Some(reading.at_ms),
                    last_report_data: Some(reading.payload()),
                    last_report_ms: Some(reading.at_ms),
                    ..LiveUpdate::default()
                })
            })
            .collect();
        (batch, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(seed: u64) -> SimDevice {
        SimDevice::new(DeviceId::new("sensor-001").unwrap(), 0, seed, 25.0)
    }

    #[test]
    fn the_same_seed_gives_the_same_readings_and_another_does_not() {
        let (mut a, mut b, mut c) = (device(7), device(7), device(8));
        let first: Vec<Reading> = (0..100).map(|slot| a.reading(0, slot)).collect();
        let second: Vec<Reading> = (0..100).map(|slot| b.reading(0, slot)).collect();
        let other: Vec<Reading> = (0..100).map(|slot| c.reading(0, slot)).collect();
        assert_eq!(first, second);
        assert_ne!(first, other);
    }

    #[test]
    fn payload_values_parse_back_to_the_stored_points_and_times_stay_in_order() {
        let mut device = device(19);
        let mut previous = Millis::MIN;
        for slot in 0..20_000 {
            let reading = device.reading(1_000_000_000_000, slot);
            assert!(reading.at_ms > previous, "slot {slot} out of order");
            previous = reading.at_ms;
            let parsed: serde_json::Value = serde_json::from_str(&reading.payload()).unwrap();
            assert_eq!(parsed["temperature"].as_f64(), Some(reading.temperature));
            assert_eq!(parsed["humidity"].as_f64(), Some(reading.humidity));
            assert_eq!(parsed["power"].as_f64(), Some(reading.power));
            assert!((0.0..=100.0).contains(&reading.humidity));
            assert!(reading.power >= 0.0 && !reading.payload().contains("-0.0"));
        }
    }

    #[test]
    fn values_vary_like_sensors_and_jitter_is_tens_of_milliseconds() {
        let mut device = device(3);
        let readings: Vec<Reading> = (0..8_640).map(|slot| device.reading(0, slot)).collect();
        let temperatures: Vec<f64> = readings.iter().map(|r| r.temperature).collect();
        let spread = temperatures.iter().cloned().fold(f64::MIN, f64::max)
            - temperatures.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread > 0.5 && spread < 15.0, "daily spread {spread}");
        let changed = temperatures.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changed > 4_000, "noise changes most readings: {changed}");
        let offsets: Vec<i64> = readings
            .windows(2)
            .map(|w| w[1].at_ms - w[0].at_ms - INTERVAL_MS)
            .collect();
        let irregular = offsets.iter().filter(|offset| **offset != 0).count();
        assert!(
            irregular > 8_000,
            "jitter on almost every step: {irregular}"
        );
        assert!(offsets.iter().all(|offset| offset.abs() < 1_000));
    }
}
