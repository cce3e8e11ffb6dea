pub mod authz;
pub mod config;
pub mod dev;
pub mod keys;
pub mod server {
    pub mod proto;
}
