pub mod config;
pub mod keys;
pub mod server {
    pub mod proto;
}
