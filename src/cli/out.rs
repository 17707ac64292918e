//! Standard output of the commands. `println!` panics when stdout is closed, as in
//! `metrics-api migrate status | head -1`: the reader left after one line and the next
//! write fails with `EPIPE`. Here a closed stdout only stops the output; the command
//! finishes its work (an ingest or a migration must not stop halfway because nobody reads
//! its progress) and exits as it would have.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout, unless stdout was found closed.
pub fn write(text: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != ErrorKind::BrokenPipe {
            tracing::warn!(error = %e, "cannot write to standard output; the command goes on without it");
        }
    }
}

/// `println!` for the commands, through [`write`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for the commands, through [`write`].
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

pub(crate) use {say, say_raw};
