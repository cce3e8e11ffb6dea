//! Keys: the one seam that does I/O.
pub mod alg;
pub mod jwk;
pub mod key;

pub use alg::{Algorithm, KeyFamily};
pub use key::{BadSignature, KeyError, KeyLookup, KeySet, VerifyingKey};
