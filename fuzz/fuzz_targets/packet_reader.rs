#![no_main]
//! The checks live in `src/fuzz_checks.rs`, where `cargo test` replays the committed corpus.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ilp_plugin_http_rs::fuzz_checks::packet_reader(data));
