#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifd::fuzzing::config_toml(data));
