//! Everything a test process logs, in one buffer: for the tests that search
//! the logs for secrets, or count what the server wrote.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::EnvFilter;

/// A global `tracing` subscriber writing plain text (no colour) into a
/// shared buffer. Clones share the buffer.
#[derive(Clone, Debug, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture as the process's subscriber, with `filter`.
    ///
    /// # Panics
    ///
    /// When the process has a global subscriber already: the capture would
    /// miss everything, so the test must not go on.
    pub fn install(filter: impl Into<EnvFilter>) -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("install the capturing subscriber");
        capture
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// How many lines so far hold every one of `needles`.
    pub fn count_lines(&self, needles: &[&str]) -> usize {
        self.text()
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .count()
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
