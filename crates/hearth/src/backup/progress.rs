//! Progress for `hearth backup` and `hearth restore`: a bar on a terminal while bytes
//! move, plain lines otherwise (a cron job's mail or a journal would keep a bar's
//! redraws as noise).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Read};

/// Steps and byte counts, shown on stderr.
pub struct Progress {
    /// `None` when stderr is not a terminal; hidden between byte phases.
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Progress { bar }
    }

    /// One step of the work, said once.
    pub fn step(&self, text: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    /// A phase that moves `total` bytes.
    pub fn start_bytes(&self, total: u64, what: &str) {
        match &self.bar {
            Some(bar) => {
                bar.reset();
                bar.set_length(total);
                bar.set_message(what.to_owned());
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            None => eprintln!("{what}: {total} bytes"),
        }
    }

    /// The end of a byte phase: the bar goes, one line says what was done.
    pub fn finish_bytes(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            bar.set_draw_target(ProgressDrawTarget::hidden());
            eprintln!("{}: {} bytes", bar.message(), bar.position());
        }
    }

    /// `read`, counting its bytes on the bar.
    pub fn wrap_read<'a, R: Read + 'a>(&self, read: R) -> Box<dyn Read + 'a> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_read(read)),
            None => Box::new(read),
        }
    }
}
