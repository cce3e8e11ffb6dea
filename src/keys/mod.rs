//! Keys: parsing JWKS documents into pre-parsed verification keys, and the
//! [`KeySource`] seam behind which fetching and caching happen. This is the
//! only part of gatehouse that does network or file I/O for a decision.
pub mod alg;
pub mod jwk;
pub mod key;
pub mod source;

pub use alg::{Algorithm, KeyFamily};
pub use key::{BadSignature, KeyError, KeyLookup, KeySet, VerifyingKey};
pub use source::{BoxFuture, KeySource, StaticKeys};
