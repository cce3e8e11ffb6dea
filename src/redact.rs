//! What may stand in logs for a value that must not: a short hash.

/// The first 8 bytes of the SHA-256 of `value`, in hex: correlates log lines
/// (the same subject, the same key) without revealing the value.
pub(crate) fn short_hash(value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
