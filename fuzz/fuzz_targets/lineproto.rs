//! Arbitrary bytes through the line protocol parser.
//!
//! The parser must never panic or loop, and every line it accepts must survive a round trip:
//! `write_line` then `parse_line` gives the same line back, and the line numbers it reports only
//! ever go up and stay within the body. (The parser never yields NaN, so `==` is the right test.)
#![no_main]

use foresight_engine::lineproto::{lines, parse_line, write_line};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let physical_lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut last = 0;
    let mut text = String::new();
    let mut it = lines(data);
    while let Some(item) = it.next() {
        let number = it.line_number();
        assert!(number > last && number <= physical_lines, "line {number} after {last}");
        last = number;
        match item {
            Ok(line) => {
                text.clear();
                write_line(&line, &mut text);
                match parse_line(text.as_bytes()) {
                    Ok(again) => assert_eq!(again, line, "written as {text:?}"),
                    Err(e) => panic!("{line:?} written as {text:?} does not parse: {e}"),
                }
            }
            Err(e) => assert_eq!(e.line, number),
        }
    }
    assert!(it.next().is_none());
});
