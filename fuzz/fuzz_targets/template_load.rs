//! Label template files: whatever text a template file holds, loading it gives a template or an
//! error naming the file (never a panic), and a template that loads renders its sample values
//! without panicking, in black and white only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::template::{Fields, Template};

fuzz_target!(|text: &str| {
    match Template::from_toml("fuzz.toml", text) {
        Ok(template) => {
            if let Ok(page) = template.render(&Fields::sample()) {
                assert!(page.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml")),
    }
});
