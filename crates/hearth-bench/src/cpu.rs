//! CPU time of this process and of the broker, from `/proc/<pid>/stat`.
//!
//! Generator and broker share the machine's cores, so a rate alone cannot say who ran
//! out of CPU. Each result therefore carries the CPU seconds both processes used
//! during the scenario: the generator's shows how far it is from being the limit, the
//! broker's gives CPU per message, which varies much less than a rate on a noisy
//! machine. Read from `/proc` rather than `getrusage` so that the broker, another
//! process, can be measured too and no `libc` is needed.

use serde::{Deserialize, Serialize};

/// Clock ticks per second of the utime and stime fields: `USER_HZ`, 100 on every Linux
/// architecture this runs on.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds (user plus system) used during one scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// This process: the load generator.
    pub generator_secs: f64,
    /// The broker, when its pid was given.
    pub broker_secs: Option<f64>,
}

/// CPU totals at one moment, to subtract from a later sample.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    generator: Option<f64>,
    broker: Option<(u32, f64)>,
}

impl CpuSample {
    pub fn take(broker_pid: Option<u32>) -> CpuSample {
        CpuSample {
            generator: cpu_secs("self"),
            broker: broker_pid.and_then(|pid| cpu_secs(&pid.to_string()).map(|secs| (pid, secs))),
        }
    }

    /// CPU used since this sample was taken. A process that vanished counts as none.
    pub fn since(&self) -> CpuUsage {
        let generator = match (self.generator, cpu_secs("self")) {
            (Some(before), Some(after)) => after - before,
            _ => 0.0,
        };
        let broker = self
            .broker
            .and_then(|(pid, before)| cpu_secs(&pid.to_string()).map(|after| after - before));
        CpuUsage {
            generator_secs: generator,
            broker_secs: broker,
        }
    }
}

/// User plus system CPU seconds of a process (all its threads); `pid` may be "self".
fn cpu_secs(pid: &str) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(stat: &str) -> Option<f64> {
    // The command name is in parentheses and may contain spaces and parentheses, so
    // fields are counted from the last ')'. What follows starts at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_added() {
        let stat =
            "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(stat), Some(3.25));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(cpu_secs("self").is_some());
        let usage = CpuSample::take(Some(std::process::id())).since();
        assert!(usage.generator_secs >= 0.0);
        assert!(usage.broker_secs.is_some());
    }
}
