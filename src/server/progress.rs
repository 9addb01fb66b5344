//! What the commands (`backup`, `export`) show while they work: a line on stderr, redrawn in
//! place, only when stderr is a terminal. Elsewhere (cron, a pipe) they print nothing but
//! errors.

use std::io::{IsTerminal, Write};

pub struct Progress {
    on: bool,
    drawn: bool,
}

impl Progress {
    const WIDTH: u64 = 30;

    pub fn on_terminal() -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// `what [#####-----] done / total unit`.
    pub fn bar(&mut self, what: &str, done: u64, total: u64, unit: &str) {
        let filled = (done * Self::WIDTH).checked_div(total).unwrap_or(0);
        let bar: String = (0..Self::WIDTH)
            .map(|at| if at < filled { '#' } else { '-' })
            .collect();
        self.draw(&format!("{what} [{bar}] {done} / {total} {unit}"));
    }

    fn draw(&mut self, line: &str) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        // `\x1b[K` clears what a longer line before left.
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the line drawn, if any.
    pub fn finish(&mut self) {
        if std::mem::take(&mut self.drawn) {
            eprintln!();
        }
    }

    /// Whether anything is shown (stderr is a terminal).
    pub fn shown(&self) -> bool {
        self.on
    }
}
