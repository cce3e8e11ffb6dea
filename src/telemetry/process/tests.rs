// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
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
        parse_max_open_files("Max open files            unlimited            unlimited            files\n"),
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
