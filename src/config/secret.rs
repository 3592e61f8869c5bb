//! `Secret`: a secret or token from the options, whose bytes never appear in `Debug` output.

use std::fmt;
use std::sync::Arc;

/// A secret or token. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    pub fn new(value: &str) -> Self {
        Secret(Arc::from(value.as_bytes()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_output_hides_secrets() {
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }
}
