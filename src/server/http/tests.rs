// Unit tests, compiled only under #[cfg(test)] (declared so in the parent module).
use super::*;

#[test]
fn openmetrics_becomes_prometheus_text() {
    let openmetrics = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{x=\"1\"} 3\n\
                       # HELP b_bytes Size.\n# TYPE b_bytes gauge\n# UNIT b_bytes bytes\nb_bytes 7\n# EOF\n";
    assert_eq!(
        to_prometheus_text(openmetrics),
        "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{x=\"1\"} 3\n\
         # HELP b_bytes Size.\n# TYPE b_bytes gauge\nb_bytes 7\n"
    );
}
