//! The GPIO task against simulated pins, in real time: the test sets pin levels as the urn's
//! switches and beam would, and reads the `Input`s and `GpioEvent`s that the task sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use station::devices::Input;
use station::devices::Lamp;
use station::devices::gpio::{GpioConfig, GpioError, GpioEvent, GpioLamp, run};
use station::devices::sim_pins::{SimPinHandle, SimPins};
use station::shutdown::{ShutdownTrigger, shutdown_pair};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

/// Longest any one step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Short times so the tests are quick, wide margins so a loaded 2-core machine still passes:
/// an envelope is 100 ms of a 40–500 ms window; a bounce is 1 ms edges against 20 ms debounce.
fn config() -> GpioConfig {
    GpioConfig {
        debounce_ms: 20,
        slot_debounce_ms: 2,
        slot_min_break_ms: 40,
        slot_max_break_ms: 500,
        door_open_too_long_secs: 1,
        chatter_window_ms: 1_000,
        chatter_limit: 3,
        lamp_refresh_deadline_ms: 100,
        ..GpioConfig::default()
    }
}

struct Rig {
    door: SimPinHandle,
    slot: SimPinHandle,
    button: SimPinHandle,
    lamp_pin: SimPinHandle,
    lamp: GpioLamp,
    inputs: mpsc::Receiver<Input>,
    events: mpsc::Receiver<GpioEvent>,
    stop: ShutdownTrigger,
    task: JoinHandle<Result<(), GpioError>>,
}

/// Starts the task; `before` sets pin levels before the first sample.
async fn start_with(config: GpioConfig, before: impl FnOnce(&SimPins)) -> Rig {
    let sim = SimPins::new(&config);
    before(&sim);
    let SimPins {
        pins,
        door,
        slot,
        button,
        lamp: lamp_pin,
    } = sim;
    let lamp = GpioLamp::new();
    let (inputs_tx, inputs) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(64);
    let (stop, shutdown) = shutdown_pair();
    let task = tokio::spawn(run(
        pins,
        lamp.clone(),
        config,
        inputs_tx,
        events_tx,
        shutdown,
    ));
    // Let the first sample (the starting levels) happen before the test moves anything.
    sleep(ms(30)).await;
    Rig {
        door,
        slot,
        button,
        lamp_pin,
        lamp,
        inputs,
        events,
        stop,
        task,
    }
}

async fn start(config: GpioConfig) -> Rig {
    start_with(config, |_| {}).await
}

impl Rig {
    /// Everything sent within `window` (after which the test considers the task quiet).
    async fn inputs_within(&mut self, window: Duration) -> Vec<Input> {
        let mut got = Vec::new();
        let end = tokio::time::Instant::now() + window;
        while let Ok(Some(input)) = tokio::time::timeout_at(end, self.inputs.recv()).await {
            got.push(input);
        }
        got
    }

    async fn next_input(&mut self) -> Input {
        timeout(STEP, self.inputs.recv())
            .await
            .expect("an input in time")
            .expect("task running")
    }

    /// Waits for an event matching `want`, skipping others (noise reports and the like).
    async fn event(&mut self, want: impl Fn(&GpioEvent) -> bool) -> GpioEvent {
        timeout(STEP, async {
            loop {
                let event = self.events.recv().await.expect("task running");
                if want(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the event in time")
    }

    async fn stop(self) -> (SimPinHandle, Vec<GpioEvent>) {
        self.stop.trigger();
        let result = timeout(STEP, self.task).await.expect("stops in time");
        result.expect("no panic").expect("no error");
        let mut events = self.events;
        let mut rest = Vec::new();
        while let Ok(e) = events.try_recv() {
            rest.push(e);
        }
        (self.lamp_pin, rest)
    }
}

/// Polls `cond` every millisecond until it holds or `STEP` passes.
async fn until(cond: impl Fn() -> bool) -> bool {
    timeout(STEP, async {
        while !cond() {
            sleep(ms(1)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_opened_and_closed() {
    let mut rig = start(config()).await;
    assert_eq!(
        rig.inputs_within(ms(50)).await,
        [],
        "a closed door at start is not news"
    );
    rig.door.set_active(true);
    assert_eq!(rig.next_input().await, Input::Door { open: true });
    sleep(ms(100)).await;
    rig.door.set_active(false);
    assert_eq!(rig.next_input().await, Input::Door { open: false });
    assert_eq!(rig.inputs_within(ms(100)).await, []);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_found_open_at_start_is_reported() {
    let mut rig = start_with(config(), |sim| sim.door.set_active(true)).await;
    assert_eq!(rig.next_input().await, Input::Door { open: true });
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_shorter_than_debounce_is_nothing() {
    let mut rig = start(config()).await;
    // Ten 1 ms edges, ending where it began (closed): far inside the 20 ms debounce.
    rig.door.bounce(10, ms(1)).await;
    rig.button.bounce(10, ms(1)).await;
    assert_eq!(rig.inputs_within(ms(150)).await, []);
    // A bounce that ends open, then holds: exactly one opening.
    rig.door.bounce(9, ms(1)).await;
    assert!(rig.door.is_active());
    assert_eq!(
        rig.inputs_within(ms(200)).await,
        [Input::Door { open: true }]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn door_open_too_long_and_chatter_are_faults() {
    let mut rig = start(config()).await;
    rig.door.set_active(true);
    assert_eq!(rig.next_input().await, Input::Door { open: true });
    let event = rig.event(|e| *e == GpioEvent::DoorOpenTooLong).await;
    assert_eq!(event.fault_name(), Some("door_open_too_long"));
    rig.door.set_active(false);
    assert_eq!(rig.next_input().await, Input::Door { open: false });

    // More than 3 changes within 1 s, each held past the debounce: chatter, not four openings.
    for i in 0..6 {
        rig.door.set_active(i % 2 == 0);
        sleep(ms(50)).await;
    }
    let event = rig
        .event(|e| matches!(e, GpioEvent::DoorChatter { .. }))
        .await;
    assert_eq!(event.fault_name(), Some("door_chatter"));
    let event = rig
        .event(|e| matches!(e, GpioEvent::DoorChatterEnded { .. }))
        .await;
    assert_eq!(event.clears(), Some("door_chatter"));
    // Before the fault: open, close (the first three changes are within the limit); the door
    // ends closed as it was last reported, so nothing follows the chatter.
    let inputs = rig.inputs_within(ms(100)).await;
    assert_eq!(
        inputs,
        [Input::Door { open: true }, Input::Door { open: false }]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beam_breaks_count_envelopes() {
    let mut rig = start(config()).await;
    // One break of 100 ms (inside 40–500 ms): one envelope.
    rig.slot.pulse(ms(100)).await;
    assert_eq!(rig.inputs_within(ms(150)).await, [Input::EnvelopeDropped]);
    // A 5 ms flicker: noise, no envelope.
    rig.slot.pulse(ms(5)).await;
    assert_eq!(rig.inputs_within(ms(150)).await, []);
    rig.event(|e| *e == GpioEvent::SlotNoise).await;
    // Two envelopes 30 ms apart: two.
    rig.slot.pulse(ms(100)).await;
    sleep(ms(30)).await;
    rig.slot.pulse(ms(100)).await;
    assert_eq!(
        rig.inputs_within(ms(150)).await,
        [Input::EnvelopeDropped, Input::EnvelopeDropped]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_is_a_fault_not_an_envelope() {
    let mut rig = start(config()).await;
    rig.slot.set_active(true);
    // Raised while the beam is still broken, past 500 ms.
    let event = rig.event(|e| *e == GpioEvent::SlotJam).await;
    assert_eq!(event.fault_name(), Some("slot_jam"));
    rig.slot.set_active(false);
    rig.event(|e| *e == GpioEvent::SlotJamCleared).await;
    assert_eq!(rig.inputs_within(ms(100)).await, []);
    // And the slot counts again afterwards.
    rig.slot.pulse(ms(100)).await;
    assert_eq!(rig.inputs_within(ms(150)).await, [Input::EnvelopeDropped]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_press_is_one_press() {
    let mut rig = start(config()).await;
    rig.button.pulse(ms(80)).await;
    assert_eq!(rig.inputs_within(ms(150)).await, [Input::ButtonPressed]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_held_at_start_is_not_a_press() {
    let mut rig = start_with(config(), |sim| sim.button.set_active(true)).await;
    assert_eq!(rig.inputs_within(ms(80)).await, []);
    rig.button.set_active(false);
    assert_eq!(rig.inputs_within(ms(80)).await, []);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_levels_follow_the_config() {
    // The default wiring: door active high, slot and button active low (switches to ground).
    let mut rig = start(config()).await;
    assert!(rig.slot.is_high() && rig.button.is_high() && !rig.door.is_high());
    rig.button.set_high(false); // pressed: pulled to ground
    sleep(ms(60)).await;
    rig.button.set_high(true);
    assert_eq!(rig.inputs_within(ms(100)).await, [Input::ButtonPressed]);
    rig.stop().await;

    // The door inverted: a switch that pulls low when the door opens.
    let mut inverted = config();
    inverted.door.active_low = true;
    inverted.slot.active_low = false;
    let mut rig = start(inverted).await;
    assert!(rig.door.is_high(), "idle at the inactive level");
    assert_eq!(rig.inputs_within(ms(50)).await, []);
    rig.door.set_high(false);
    assert_eq!(rig.next_input().await, Input::Door { open: true });
    rig.door.set_high(true);
    assert_eq!(rig.next_input().await, Input::Door { open: false });
    rig.slot.set_high(true); // beam broken, now active high
    sleep(ms(100)).await;
    rig.slot.set_high(false);
    assert_eq!(rig.inputs_within(ms(100)).await, [Input::EnvelopeDropped]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lamp_follows_the_workflow_and_goes_off_at_shutdown() {
    let mut inverted = config();
    inverted.lamp.active_low = true;
    let rig = start(inverted).await;
    assert!(!rig.lamp_pin.is_active() && rig.lamp_pin.is_high());
    rig.lamp.set(true);
    assert!(until(|| rig.lamp_pin.is_active()).await);
    assert!(!rig.lamp_pin.is_high(), "active low: lit is low");
    // Held on well past the 100 ms deadline: the task keeps refreshing it.
    sleep(ms(300)).await;
    assert!(rig.lamp_pin.is_active());
    rig.lamp.set(false);
    assert!(until(|| !rig.lamp_pin.is_active()).await);
    rig.lamp.set_pattern(firmware::Pattern::FastBlink);
    let seen_off = {
        let pin = rig.lamp_pin.clone();
        async move {
            let (mut on, mut off) = (0, 0);
            for _ in 0..600 {
                if pin.is_active() {
                    on += 1
                } else {
                    off += 1
                }
                sleep(ms(1)).await;
            }
            (on, off)
        }
    }
    .await;
    assert!(seen_off.0 > 50 && seen_off.1 > 50, "blinks: {seen_off:?}");
    rig.lamp.set(true);
    assert!(until(|| rig.lamp_pin.is_active()).await);
    let lamp = rig.lamp.clone();
    let (pin, events) = rig.stop().await;
    assert!(!pin.is_active(), "off once the task has stopped");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, GpioEvent::LampFellBack { .. }))
    );
    assert_eq!(lamp.pattern(), firmware::Pattern::On, "the wish is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lamp_goes_off_when_the_task_is_cancelled() {
    let rig = start(config()).await;
    rig.lamp.set(true);
    assert!(until(|| rig.lamp_pin.is_active()).await);
    rig.task.abort();
    let _ = rig.task.await;
    assert!(!rig.lamp_pin.is_active());
}

/// A hung station: the async runtime the task runs on is blocked (a blocking call on its only
/// thread). The watchdog thread switches the lamp off within the deadline; when the runtime runs
/// again, the task lights it again and reports the fallback.
#[test]
fn the_lamp_falls_back_when_the_runtime_hangs() {
    let sim = SimPins::new(&config());
    let SimPins {
        pins,
        lamp: lamp_pin,
        ..
    } = sim;
    let lamp = GpioLamp::new();
    let (inputs_tx, _inputs) = mpsc::channel::<Input>(8);
    let (events_tx, mut events) = mpsc::channel(64);
    let (stop, shutdown) = shutdown_pair();
    let (stall_tx, stall_rx) = std::sync::mpsc::channel::<()>();
    let lamp2 = lamp.clone();
    let station = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let task = tokio::spawn(run(pins, lamp2, config(), inputs_tx, events_tx, shutdown));
            // Wait (asynchronously) until told to hang, then hang the only thread for 1 s.
            loop {
                if stall_rx.try_recv().is_ok() {
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
                tokio::time::sleep(ms(5)).await;
            }
            task.await.unwrap().unwrap();
        });
    });

    let wait = |cond: &dyn Fn() -> bool, what: &str| {
        let end = std::time::Instant::now() + STEP;
        while !cond() {
            assert!(std::time::Instant::now() < end, "{what}");
            std::thread::sleep(ms(1));
        }
    };
    lamp.set(true);
    wait(&|| lamp_pin.is_active(), "lamp on");
    std::thread::sleep(ms(200));
    assert!(lamp_pin.is_active(), "refreshed while the task runs");

    let hung_at = std::time::Instant::now();
    stall_tx.send(()).unwrap();
    wait(&|| !lamp_pin.is_active(), "lamp off during the hang");
    let off_after = hung_at.elapsed();
    assert!(
        off_after < ms(800),
        "fell back within the hang: {off_after:?}"
    );

    // The runtime runs again: the lamp is lit again, the fallback reported and, the lamp being
    // driven again, its fault cleared (it once stayed open for ever).
    wait(&|| lamp_pin.is_active(), "lamp on again after the hang");
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + STEP;
    while !seen.contains(&GpioEvent::LampRelit) && std::time::Instant::now() < end {
        match events.try_recv() {
            Ok(event @ (GpioEvent::LampFellBack { .. } | GpioEvent::LampRelit)) => seen.push(event),
            Ok(_) => {}
            Err(_) => std::thread::sleep(ms(5)),
        }
    }
    assert_eq!(
        seen,
        [GpioEvent::LampFellBack { total: 1 }, GpioEvent::LampRelit],
        "the fallback reported, then the lamp relit"
    );
    assert_eq!(seen[0].fault_name(), Some("lamp_watchdog"));
    assert_eq!(seen[1].clears(), seen[0].fault_name());
    stop.trigger();
    station.join().unwrap();
    assert!(!lamp_pin.is_active());
}

#[test]
fn config_defaults_are_valid_and_errors_name_the_key() {
    GpioConfig::default().validate().unwrap();
    config().validate().unwrap();

    let parsed: GpioConfig =
        toml::from_str("debounce_ms = 30\n[door]\npin = 5\nactive_low = true\n[lamp]\npin = 6\n")
            .unwrap();
    assert_eq!(parsed.debounce_ms, 30);
    assert_eq!(parsed.door.pin, 5);
    assert!(parsed.door.active_low);
    assert_eq!(parsed.slot, GpioConfig::default().slot);
    parsed.validate().unwrap();

    let unknown = toml::from_str::<GpioConfig>("debounce = 30\n").unwrap_err();
    assert!(unknown.to_string().contains("debounce"), "{unknown}");
    let unknown =
        toml::from_str::<GpioConfig>("[door]\npin = 5\nactive_low = true\nlow = 1\n").unwrap_err();
    assert!(unknown.to_string().contains("low"), "{unknown}");

    let key = |c: GpioConfig| c.validate().unwrap_err().key;
    let mut c = GpioConfig::default();
    c.lamp.pin = c.door.pin;
    assert_eq!(key(c), "gpio.lamp.pin");
    let mut c = GpioConfig::default();
    c.button.pin = 28;
    assert_eq!(key(c), "gpio.button.pin");
    let mut c = GpioConfig::default();
    c.slot.pin = 1;
    assert_eq!(key(c), "gpio.slot.pin");
    let mut c = GpioConfig::default();
    c.lock = Some(station::devices::gpio::OutputWiring {
        pin: c.slot.pin,
        active_low: false,
    });
    assert_eq!(key(c), "gpio.lock.pin");
    for (c, want) in [
        (
            GpioConfig {
                slot_debounce_ms: 15,
                ..GpioConfig::default()
            },
            "gpio.slot_debounce_ms",
        ),
        (
            GpioConfig {
                slot_max_break_ms: 15,
                ..GpioConfig::default()
            },
            "gpio.slot_max_break_ms",
        ),
        (
            GpioConfig {
                chatter_limit: 16,
                ..GpioConfig::default()
            },
            "gpio.chatter_limit",
        ),
        (
            GpioConfig {
                debounce_ms: 0,
                ..GpioConfig::default()
            },
            "gpio.debounce_ms",
        ),
        (
            GpioConfig {
                lamp_refresh_deadline_ms: 5,
                ..GpioConfig::default()
            },
            "gpio.lamp_refresh_deadline_ms",
        ),
    ] {
        assert_eq!(key(c), want);
    }
}

#[tokio::test]
async fn an_invalid_config_stops_the_task_at_once() {
    let sim = SimPins::new(&GpioConfig::default());
    let (inputs_tx, _inputs) = mpsc::channel::<Input>(8);
    let (events_tx, _events) = mpsc::channel(8);
    let (_stop, shutdown) = shutdown_pair();
    let bad = GpioConfig {
        debounce_ms: 0,
        ..GpioConfig::default()
    };
    let err = run(
        sim.pins,
        GpioLamp::new(),
        bad,
        inputs_tx,
        events_tx,
        shutdown,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("gpio.debounce_ms"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_ends_when_the_workflow_is_gone() {
    let mut rig = start(config()).await;
    rig.inputs.close();
    rig.slot.pulse(ms(100)).await;
    let result = timeout(STEP, rig.task).await.expect("ends in time");
    result.unwrap().unwrap();
    assert!(!rig.lamp_pin.is_active());
}

/// On this x86-64 machine (and in CI) opening the Pi's GPIO gives the one clear error.
#[cfg(feature = "rpi")]
#[cfg(not(any(target_arch = "arm", target_arch = "aarch64")))]
#[test]
fn not_a_pi_is_one_clear_error() {
    use station::devices::rpi;
    let err = rpi::open(&GpioConfig::default()).expect_err("no GPIO here");
    assert!(matches!(err, GpioError::NotAPi), "{err:?}");
    assert_eq!(
        err.to_string(),
        "this machine has no Raspberry Pi GPIO (/dev/gpiomem); run the station with simulation = true"
    );
    assert!(!rpi::available());
}
