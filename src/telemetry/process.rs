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
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tgatehouse\n\
        Umask:\t0022\n\
        State:\tS (sleeping)\n\
        Tgid:\t4242\n\
        VmPeak:\t  123456 kB\n\
        VmSize:\t  120000 kB\n\
        VmHWM:\t    9000 kB\n\
        VmRSS:\t    8192 kB\n\
        RssAnon:\t    4096 kB\n\
        Threads:\t7\n\
        SigQ:\t0/96364\n";

    // A comm with spaces and parentheses, including a `) ` that would fool
    // a split at the first `)`.
    const STAT: &str = "4242 ((gate house) (x)) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
        250 75 0 0 20 0 7 0 335584 122880000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";

    const PROC_STAT: &str = "cpu  1 2 3 4 5 6 7 0 0 0\n\
        cpu0 1 2 3 4 5 6 7 0 0 0\n\
        intr 12345 0 0\n\
        ctxt 987654\n\
        btime 1700000000\n\
        processes 4321\n\
        procs_running 2\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max processes             96364                96364                processes \n\
        Max open files            1024                 524288               files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn status_fields_in_bytes() {
        assert_eq!(
            parse_status(STATUS),
            Status {
                resident_memory_bytes: Some(8192 * 1024),
                virtual_memory_bytes: Some(120_000 * 1024),
                threads: Some(7),
            }
        );
    }

    #[test]
    fn status_missing_or_malformed_fields_are_none() {
        // Kernel threads have no Vm* lines; an unknown unit is not guessed.
        let status = parse_status("Name:\tkthreadd\nVmRSS:\t12 MB\nThreads:\tmany\n");
        assert_eq!(status, Status::default());
        assert_eq!(parse_status(""), Status::default());
        assert_eq!(parse_kb(" 99999999999999999999 kB"), None);
        assert_eq!(parse_kb(&format!(" {} kB", u64::MAX)), None);
    }

    #[test]
    fn stat_splits_after_the_last_paren() {
        let stat = parse_stat(STAT).expect("parses");
        assert_eq!(stat, Stat { utime_ticks: 250, stime_ticks: 75, start_time_ticks: 335_584 });
        assert!((stat.cpu_seconds() - 3.25).abs() < 1e-9);
        assert!((stat.start_time_seconds(1_700_000_000) - 1_700_003_355.84).abs() < 1e-6);
    }

    #[test]
    fn stat_plain_comm() {
        let stat = parse_stat(
            "24506 (cat) R 24497 24497 23391 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 335584 3133440 415 0\n",
        );
        assert_eq!(stat, Some(Stat { utime_ticks: 1, stime_ticks: 2, start_time_ticks: 335_584 }));
    }

    #[test]
    fn stat_truncated_or_garbage_is_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("4242 (gatehouse"), None);
        assert_eq!(parse_stat("4242 (gatehouse) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250"), None);
        assert_eq!(
            parse_stat("4242 (gatehouse) S 1 4242 4242 0 -1 4194560 1500 0 0 0 x 75 0 0 20 0 7 0 9"),
            None
        );
    }

    #[test]
    fn boot_time() {
        assert_eq!(parse_boot_time(PROC_STAT), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1 2 3\nbtimex 5\n"), None);
        assert_eq!(parse_boot_time("btime soon\n"), None);
    }

    #[test]
    fn max_open_files_soft_limit() {
        assert_eq!(parse_max_open_files(LIMITS), Some(1024));
        assert_eq!(
            parse_max_open_files(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(parse_max_open_files("Max processes 10 10 processes\n"), None);
    }

    /// The value of the sample line `name value` in a text exposition.
    fn sample(text: &str, name: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"));
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("numeric value")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn encodes_plausible_values_for_this_process() {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");

        assert!(text.contains("# TYPE process_cpu_seconds counter\n"), "{text}");
        assert!(text.contains("# TYPE process_resident_memory_bytes gauge\n"), "{text}");
        assert!(sample(&text, "process_cpu_seconds_total") >= 0.0);
        let rss = sample(&text, "process_resident_memory_bytes");
        assert!(rss > 0.0);
        assert!(sample(&text, "process_virtual_memory_bytes") >= rss);
        let open = sample(&text, "process_open_fds");
        assert!(open >= 3.0, "stdin, stdout, stderr at least: {open}");
        assert!(sample(&text, "process_max_fds") >= open);
        assert!(sample(&text, "process_threads") >= 1.0);

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        let start = sample(&text, "process_start_time_seconds");
        // `btime` is whole seconds, so allow a little slack into the future.
        assert!(start <= now + 2.0, "start {start} is after now {now}");
        assert!(start > now - 3600.0, "start {start} is over an hour before now {now}");
    }
}
