#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vifd::fuzzing::fleet_router(data));
