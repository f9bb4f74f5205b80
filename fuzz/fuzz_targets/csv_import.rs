//! Fuzzes `parsers::fuzzing::csv_import`: see that function for the properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parsers::fuzzing::csv_import(data));
