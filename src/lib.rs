pub mod keys;
pub mod server {
    pub mod proto;
}
