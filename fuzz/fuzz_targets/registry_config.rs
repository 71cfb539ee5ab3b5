//! Any text offered as `registry.toml` is accepted or refused with a configuration error that
//! says something, without a panic; an accepted file written back out reads as the same config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry::config::ServerConfig;

fuzz_target!(|text: &str| {
    match ServerConfig::from_toml(text) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("an accepted config serialises");
            let again = ServerConfig::from_toml(&written).expect("a written config reads back");
            assert_eq!(again, config);
        }
        Err(registry::Error::Config(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("not a configuration error: {other}"),
    }
});
