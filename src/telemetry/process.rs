//! The standard `process_*` metrics (resident and virtual memory, CPU time,
//! file descriptors, start time, threads), read from `/proc/self` on every
//! scrape.
//!
//! Linux only: elsewhere the collector emits nothing. Any file that cannot be
//! read or parsed drops the metrics that depend on it from that scrape and
//! nothing else: a missing metric is better than a wrong one, and a scrape
//! never fails because of `/proc`.
//!
//! The parsers are pure functions over the files' contents; the collector is
//! the only place that does I/O.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`).
///
/// The kernel reports these times in `USER_HZ`, not the configured `HZ`, and
/// `USER_HZ` is 100 on every architecture gatehouse runs on (x86_64, aarch64
/// and the other mainstream ones; only long-gone ports such as alpha and ia64
/// used 1024). The exact value is `sysconf(_SC_CLK_TCK)`, which needs libc
/// (not a dependency, and the crate forbids `unsafe`), and spawning
/// `getconf CLK_TCK` at scrape time is out of the question, so it is fixed.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Registers the process metrics collector with `registry`.
pub(crate) fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector::default()));
}

/// Emits the standard `process_*` metrics for the current process, read
/// afresh from `/proc/self` on every scrape.
#[derive(Debug, Default)]
pub(crate) struct ProcessCollector {}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }

        let status = read("/proc/self/status").map(|s| parse_status(&s)).unwrap_or_default();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));

        counter(
            &mut encoder,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            stat.map(|s| s.cpu_seconds()),
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors",
            count_open_fds().and_then(to_i64),
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors",
            read("/proc/self/limits").and_then(|s| parse_max_open_files(&s)).and_then(to_i64),
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            status.virtual_memory_bytes.and_then(to_i64),
        )?;
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            status.resident_memory_bytes.and_then(to_i64),
        )?;
        // Only read /proc/stat when the process's own stat parsed.
        let start_time = stat.and_then(|stat| {
            let boot_time = read("/proc/stat").and_then(|s| parse_boot_time(&s))?;
            Some(stat.start_time_seconds(boot_time))
        });
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            start_time,
        )?;
        gauge(
            &mut encoder,
            "process_threads",
            "Number of OS threads in the process",
            status.threads.and_then(to_i64),
        )?;
        Ok(())
    }
}

/// Encodes one gauge, or nothing (not even the descriptor) when `value` is `None`.
fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error> {
    encode(encoder, name, help, value.map(ConstGauge::new))
}

/// Encodes one counter, or nothing when `value` is `None`. `name` is given
/// without the `_total` suffix, which the encoder adds to the sample.
fn counter<N: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error> {
    encode(encoder, name, help, value.map(ConstCounter::new))
}

fn encode(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: Option<impl EncodeMetric>,
) -> Result<(), std::fmt::Error> {
    let Some(metric) = metric else { return Ok(()) };
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// `u64` gauges fail the whole scrape above `i64::MAX`; skip the metric instead.
fn to_i64(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Entries of `/proc/self/fd`, counting the one this listing itself holds
/// open, as other Prometheus clients do.
fn count_open_fds() -> Option<u64> {
    let mut count = 0u64;
    for entry in std::fs::read_dir("/proc/self/fd").ok()? {
        entry.ok()?;
        count += 1;
    }
    Some(count)
}

/// The fields used from `/proc/self/status`; each is `None` when absent or
/// malformed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// `VmRSS`, in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// `VmSize`, in bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// `Threads`.
    pub threads: Option<u64>,
}

/// Parses the contents of `/proc/<pid>/status`.
pub fn parse_status(contents: &str) -> Status {
    let mut status = Status::default();
    for line in contents.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key {
            "VmRSS" => status.resident_memory_bytes = parse_kb(value),
            "VmSize" => status.virtual_memory_bytes = parse_kb(value),
            "Threads" => status.threads = value.trim().parse().ok(),
            _ => {}
        }
    }
    status
}

/// `"   1234 kB"` to bytes (the kernel's "kB" is KiB). Any other unit is
/// rejected rather than guessed at.
fn parse_kb(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let number: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) => number.checked_mul(1024),
        _ => None,
    }
}

/// The fields used from `/proc/<pid>/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 14: time scheduled in user mode.
    pub utime_ticks: u64,
    /// Field 15: time scheduled in kernel mode.
    pub stime_ticks: u64,
    /// Field 22: start time after system boot.
    pub start_time_ticks: u64,
}

impl Stat {
    /// User plus system CPU time, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        // Two u64 tick counts summed in f64: no overflow to handle.
        (self.utime_ticks as f64 + self.stime_ticks as f64) / CLOCK_TICKS_PER_SECOND
    }

    /// Process start as Unix time in seconds, given the boot time (`btime`).
    pub fn start_time_seconds(&self, boot_time_seconds: u64) -> f64 {
        boot_time_seconds as f64 + self.start_time_ticks as f64 / CLOCK_TICKS_PER_SECOND
    }
}

/// Parses the contents of `/proc/<pid>/stat`.
///
/// Field 2, `comm`, is the executable name in parentheses and may itself
/// contain spaces and parentheses, so the numbered fields are counted from
/// after the *last* `)`, where field 3 (`state`) starts.
pub fn parse_stat(contents: &str) -> Option<Stat> {
    let (_, rest) = contents.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n (1-based, as in proc(5)) is at index n - 3 of `fields`.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat { utime_ticks: field(14)?, stime_ticks: field(15)?, start_time_ticks: field(22)? })
}

/// Parses the boot time (`btime`, Unix seconds) from the contents of `/proc/stat`.
pub(crate) fn parse_boot_time(contents: &str) -> Option<u64> {
    contents.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// Parses the soft limit of "Max open files" from the contents of
/// `/proc/<pid>/limits`; `None` when it is `unlimited` or missing.
pub(crate) fn parse_max_open_files(contents: &str) -> Option<u64> {
    let line = contents.lines().find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests;
