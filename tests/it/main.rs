//! The one integration-test binary: drives the real CLI and the mock over HTTP.

mod common;
mod devino;
mod execute;
mod mock_openvk;
mod ok;
mod record;
mod report;
mod runner;
mod runner_devino_ok;
mod schemas;
mod world;
