//! GPIO lines behind one trait, [`Gpio`], with two backends:
//!
//! - [`CdevGpio`]: the Linux GPIO character device, uAPI v2 (`/dev/gpiochipN`), through
//!   the `gpiocdev` crate (pure Rust, two small crates; the deprecated sysfs interface is
//!   not used). Edge events are read by a blocking thread per input line, which is what
//!   the character device offers without an async reactor of its own.
//! - [`SimGpio`]: lines in the process, for tests and for trying a configuration on a
//!   machine without the hardware. The kernel's `gpio-sim` would let the cdev backend be
//!   tested too, but it needs the module and configfs, which containers (and this
//!   project's CI) do not have; see docs/agent.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// An edge on an input line: the line's new (logical, after `active_low`) level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub active: bool,
    pub at: Instant,
}

/// Why a line could not be had or driven.
#[derive(Debug, thiserror::Error)]
#[error("{chip} line {line}: {message}")]
pub struct GpioError {
    pub chip: String,
    pub line: u32,
    pub message: String,
}

/// A requested output line.
pub trait OutputLine: Send {
    /// Drives the line (logically: `true` is active, whatever `active_low` says).
    fn set(&mut self, active: bool) -> Result<(), GpioError>;
}

/// Where GPIO lines come from.
pub trait Gpio: Send + Sync {
    /// Requests `line` of `chip` as an input with edge detection on both edges; the
    /// edges arrive on the returned channel until it is dropped.
    fn input(
        &self,
        chip: &str,
        line: u32,
        active_low: bool,
    ) -> Result<mpsc::UnboundedReceiver<Edge>, GpioError>;

    /// Requests `line` of `chip` as an output set to `initial`.
    fn output(
        &self,
        chip: &str,
        line: u32,
        active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError>;
}

/// The Linux GPIO character device (uAPI v2).
#[derive(Debug, Default, Clone)]
pub struct CdevGpio;

fn chip_path(chip: &str) -> String {
    if chip.starts_with('/') {
        chip.to_owned()
    } else {
        format!("/dev/{chip}")
    }
}

fn cdev_error(chip: &str, line: u32, error: impl std::fmt::Display) -> GpioError {
    GpioError {
        chip: chip.to_owned(),
        line,
        message: error.to_string(),
    }
}

impl Gpio for CdevGpio {
    fn input(
        &self,
        chip: &str,
        line: u32,
        active_low: bool,
    ) -> Result<mpsc::UnboundedReceiver<Edge>, GpioError> {
        use gpiocdev::line::{EdgeDetection, EdgeKind};
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(chip_path(chip))
            .with_consumer("hearth-agent")
            .with_line(line)
            .as_input()
            .with_edge_detection(EdgeDetection::BothEdges);
        if active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| cdev_error(chip, line, e))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (chip, line) = (chip.to_owned(), line);
        std::thread::Builder::new()
            .name(format!("gpio-{line}"))
            .spawn(move || {
                for event in request.edge_events() {
                    match event {
                        Ok(event) => {
                            let edge = Edge {
                                active: event.kind == EdgeKind::Rising,
                                at: Instant::now(),
                            };
                            if tx.send(edge).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            tracing::error!("{}", cdev_error(&chip, line, error));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| GpioError {
                chip: String::new(),
                line,
                message: e.to_string(),
            })?;
        Ok(rx)
    }

    fn output(
        &self,
        chip: &str,
        line: u32,
        active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError> {
        let mut builder = gpiocdev::Request::builder();
        builder
            .on_chip(chip_path(chip))
            .with_consumer("hearth-agent")
            .with_line(line)
            .as_output(level(initial));
        if active_low {
            builder.as_active_low();
        }
        let request = builder.request().map_err(|e| cdev_error(chip, line, e))?;
        Ok(Box::new(CdevOutput {
            request,
            chip: chip.to_owned(),
            line,
        }))
    }
}

fn level(active: bool) -> gpiocdev::line::Value {
    if active {
        gpiocdev::line::Value::Active
    } else {
        gpiocdev::line::Value::Inactive
    }
}

struct CdevOutput {
    request: gpiocdev::Request,
    chip: String,
    line: u32,
}

impl OutputLine for CdevOutput {
    fn set(&mut self, active: bool) -> Result<(), GpioError> {
        self.request
            .set_value(self.line, level(active))
            .map(|_| ())
            .map_err(|e| cdev_error(&self.chip, self.line, e))
    }
}

/// In-process lines: a test (or `[gpio] backend = "sim"`) presses buttons with
/// [`SimGpio::set_input`] and reads relays with [`SimGpio::level`] /
/// [`SimGpio::watch_output`]. Lines are requested once, as on the real device.
#[derive(Clone, Default)]
pub struct SimGpio {
    lines: Arc<parking_lot::Mutex<HashMap<(String, u32), SimLine>>>,
}

enum SimLine {
    Input {
        active_low: bool,
        edges: mpsc::UnboundedSender<Edge>,
    },
    Output(watch::Sender<bool>),
}

impl SimGpio {
    pub fn new() -> SimGpio {
        SimGpio::default()
    }

    /// Drives an input line to a physical level (`high`), as a button wired to it
    /// would: the agent sees an edge (inverted for an active-low line). `false` when
    /// no input line is requested there.
    pub fn set_input(&self, chip: &str, line: u32, high: bool) -> bool {
        let lines = self.lines.lock();
        match lines.get(&(chip.to_owned(), line)) {
            Some(SimLine::Input { active_low, edges }) => edges
                .send(Edge {
                    active: high != *active_low,
                    at: Instant::now(),
                })
                .is_ok(),
            _ => false,
        }
    }

    /// An output line's logical level, `None` when not requested as an output.
    pub fn level(&self, chip: &str, line: u32) -> Option<bool> {
        match self.lines.lock().get(&(chip.to_owned(), line)) {
            Some(SimLine::Output(level)) => Some(*level.borrow()),
            _ => None,
        }
    }

    /// A watch of an output line's logical level (for a test to wait on).
    pub fn watch_output(&self, chip: &str, line: u32) -> Option<watch::Receiver<bool>> {
        match self.lines.lock().get(&(chip.to_owned(), line)) {
            Some(SimLine::Output(level)) => Some(level.subscribe()),
            _ => None,
        }
    }

    fn busy(chip: &str, line: u32) -> GpioError {
        GpioError {
            chip: chip.to_owned(),
            line,
            message: "line busy (requested already)".into(),
        }
    }
}

impl Gpio for SimGpio {
    fn input(
        &self,
        chip: &str,
        line: u32,
        active_low: bool,
    ) -> Result<mpsc::UnboundedReceiver<Edge>, GpioError> {
        let mut lines = self.lines.lock();
        let key = (chip.to_owned(), line);
        if lines.contains_key(&key) {
            return Err(SimGpio::busy(chip, line));
        }
        let (edges, rx) = mpsc::unbounded_channel();
        lines.insert(key, SimLine::Input { active_low, edges });
        Ok(rx)
    }

    fn output(
        &self,
        chip: &str,
        line: u32,
        _active_low: bool,
        initial: bool,
    ) -> Result<Box<dyn OutputLine>, GpioError> {
        let mut lines = self.lines.lock();
        let key = (chip.to_owned(), line);
        if lines.contains_key(&key) {
            return Err(SimGpio::busy(chip, line));
        }
        let (level, _) = watch::channel(initial);
        lines.insert(key, SimLine::Output(level.clone()));
        Ok(Box::new(SimOutput(level)))
    }
}

struct SimOutput(watch::Sender<bool>);

impl OutputLine for SimOutput {
    fn set(&mut self, active: bool) -> Result<(), GpioError> {
        self.0.send_replace(active);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sim_lines_carry_edges_and_levels_and_are_requested_once() {
        let gpio = SimGpio::new();
        let mut edges = gpio.input("gpiochip0", 17, true).unwrap();
        assert!(gpio.input("gpiochip0", 17, false).is_err());
        // Active low: pulling the line low is the press.
        assert!(gpio.set_input("gpiochip0", 17, false));
        assert!(edges.recv().await.unwrap().active);
        assert!(!gpio.set_input("gpiochip0", 18, false), "no such line");
        let mut relay = Gpio::output(&gpio, "gpiochip0", 27, false, true).unwrap();
        assert_eq!(gpio.level("gpiochip0", 27), Some(true));
        relay.set(false).unwrap();
        assert_eq!(gpio.level("gpiochip0", 27), Some(false));
        assert_eq!(gpio.level("gpiochip0", 17), None);
    }

    #[test]
    fn a_missing_chip_is_an_error_naming_it() {
        let error = CdevGpio
            .output("gpiochip-none", 3, false, false)
            .err()
            .expect("no such chip here");
        assert!(
            error.to_string().contains("gpiochip-none line 3"),
            "{error}"
        );
    }
}
