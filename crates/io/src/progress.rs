//! A progress bar that appears only when the work takes more than a second.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The latest bar's state, for the desktop shell's progress bar (loading runs on a worker
/// thread; the UI thread reads this each frame).
pub static CURRENT: Shared = Shared {
    done: AtomicU64::new(0),
    total: AtomicU64::new(0),
    msg: Mutex::new(""),
};

/// See [`CURRENT`].
pub struct Shared {
    done: AtomicU64,
    total: AtomicU64,
    msg: Mutex<&'static str>,
}

impl Shared {
    /// (steps done, steps in all, what) of the bar in progress; total 0 when none.
    pub fn get(&self) -> (u64, u64, &'static str) {
        let msg = self.msg.lock().map(|m| *m).unwrap_or("");
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            msg,
        )
    }

    /// Forgets the last bar (a new load starts).
    pub fn reset(&self) {
        self.total.store(0, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
}

/// Thread-safe counter that shows an indicatif bar on stderr once 1 s has elapsed.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: AtomicBool,
}

impl Progress {
    /// A hidden bar for `len` steps labelled `msg`.
    pub fn new(len: u64, msg: &'static str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(msg);
        CURRENT.done.store(0, Ordering::Relaxed);
        CURRENT.total.store(len, Ordering::Relaxed);
        if let Ok(mut m) = CURRENT.msg.lock() {
            *m = msg;
        }
        Self {
            bar,
            start: Instant::now(),
            shown: AtomicBool::new(false),
        }
    }

    /// One step done.
    pub fn inc(&self) {
        self.bar.inc(1);
        CURRENT.done.fetch_add(1, Ordering::Relaxed);
        if !self.shown.load(Ordering::Relaxed)
            && self.start.elapsed() > Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// `done` of `total` steps (bytes, say) done: for work whose size is learnt on the way.
    pub fn set(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
        CURRENT.total.store(total, Ordering::Relaxed);
        CURRENT.done.store(done, Ordering::Relaxed);
        if !self.shown.load(Ordering::Relaxed)
            && self.start.elapsed() > Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
