//! Reaching other hosts by name on the failover path: `resolve` turns a host name into an address
//! with hickory-resolver, within a budget that fits a failover, and `pin` writes the address into
//! the libpq connection strings the manager generates (`hostaddr`), so neither the WAL receiver nor
//! pg_rewind waits on the system resolver's timeouts.

pub mod pin;
pub mod resolve;
