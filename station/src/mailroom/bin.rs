//! The quarantine bin's label: envelopes whose holds started since the last bin label go into
//! one bin, and its label says in large print when the bin may be opened: the end of the
//! longest hold in it, rounded up to the minute.

use std::collections::BTreeSet;

use records::{IntakeId, LabelKind, Payload, Timestamp};

use super::{Mailroom, ScanResult, failure, notice};
use crate::clock;
use crate::printing::{self, BinLabel};

/// Rounds up to the next whole minute: a label that says 14:05 must not mean 14:04:30.
fn up_to_minute(unix_ms: i64) -> i64 {
    const MINUTE: i64 = 60_000;
    unix_ms.div_euclid(MINUTE) * MINUTE + if unix_ms % MINUTE == 0 { 0 } else { MINUTE }
}

impl Mailroom {
    /// The holds not yet in a labelled bin, with when each ends.
    async fn unlabelled_holds(&self) -> crate::Result<Vec<(IntakeId, Timestamp)>> {
        let holds = self.log.with(|log| log.store().open_holds()).await?;
        let mut out = Vec::new();
        for (intake, hold_secs, started) in holds {
            let until = Timestamp {
                unix_ms: started.unix_ms.saturating_add(i64::from(hold_secs) * 1000),
                trusted: started.trusted,
            };
            let labelled = self.log.events_for_intake(intake).await?.iter().any(|e| {
                matches!(
                    e.payload,
                    Payload::LabelPrinted {
                        label: LabelKind::Bin,
                        ..
                    }
                )
            });
            if !labelled {
                out.push((intake, until));
            }
        }
        Ok(out)
    }

    /// The bin's name: the station, the day and the day's bin number (`GWK2-1122-3`).
    async fn next_bin_name(&self, now: Timestamp) -> crate::Result<String> {
        let today = clock::local_day_start_ms(now);
        let printed = self
            .log
            .with(move |log| log.store().events_of_kind_since("label_printed", today))
            .await?;
        // One bin's label is recorded for each of its envelopes at one instant.
        let bins = printed
            .iter()
            .filter(|e| {
                matches!(
                    e.payload,
                    Payload::LabelPrinted {
                        label: LabelKind::Bin,
                        ..
                    }
                )
            })
            .map(|e| e.recorded_at.unix_ms)
            .collect::<BTreeSet<_>>();
        let day = clock::local_date_text(now);
        let month_day = day.get(5..).unwrap_or(&day).replace('-', "");
        Ok(format!(
            "{}-{month_day}-{}",
            self.config.station,
            bins.len() + 1
        ))
    }

    /// Prints the label for a new bin holding every envelope not yet in a labelled one.
    pub(super) async fn print_bin_label(&self) -> ScanResult {
        if let Some(refused) = self.require_session() {
            return refused;
        }
        let now = clock::now();
        let (holds, name) = match (self.unlabelled_holds().await, self.next_bin_name(now).await) {
            (Ok(holds), Ok(name)) => (holds, name),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("mailroom: bin label: reading the log: {e}");
                return failure(
                    None,
                    "Błąd zapisu stanowiska — wezwij administratora.",
                    "Station storage error — call the administrator.",
                );
            }
        };
        if holds.is_empty() {
            return notice(
                false,
                "Wszystkie przesyłki w kwarantannie mają już etykietę pojemnika.",
                "Every envelope in a hold is in a labelled bin already.",
            );
        }
        self.refresh_holds().await;
        let remaining = self.remaining_by_intake();
        let open_after = holds
            .iter()
            .map(|(intake, until)| {
                let by_hold_clock = remaining
                    .iter()
                    .find(|(i, _)| i == intake)
                    .map_or(0, |(_, secs)| {
                        now.unix_ms.saturating_add(secs.saturating_mul(1000))
                    });
                until.unix_ms.max(by_hold_clock)
            })
            .max()
            .unwrap_or(now.unix_ms);
        let bin = BinLabel {
            bin: name,
            open_after: Timestamp {
                unix_ms: up_to_minute(open_after),
                trusted: now.trusted,
            },
            intakes: holds.iter().map(|(intake, _)| *intake).collect(),
        };
        let (Some(printer), Some(templates)) = (&self.printer, &self.templates) else {
            return failure(None, "Brak drukarki etykiet.", "No label printer.");
        };
        let count = bin.intakes.len();
        let until = clock::local_text(bin.open_after);
        match printing::print_bin(&self.config, &self.log, printer, templates, &bin).await {
            Ok(()) => notice(
                true,
                format!(
                    "Etykieta pojemnika {} wydrukowana: kopert {count}, nie otwierać przed {until}.",
                    bin.bin
                ),
                format!(
                    "Bin label {} printed: {count} envelopes, not to be opened before {until}.",
                    bin.bin
                ),
            ),
            Err(e) => {
                tracing::error!("mailroom: bin label: {e}");
                failure(
                    None,
                    "Etykieta pojemnika się nie wydrukowała — sprawdź drukarkę i spróbuj ponownie.",
                    "The bin label did not print — check the printer and try again.",
                )
            }
        }
    }

    /// Seconds left of each hold by the hold clock, as the hold list last showed them. The
    /// label takes the later of this and the wall clock's end, so a clock step cannot make a
    /// bin look ready early.
    fn remaining_by_intake(&self) -> Vec<(IntakeId, i64)> {
        self.view
            .borrow()
            .held
            .iter()
            .filter_map(|h| {
                let intake = h.intake.parse().ok()?;
                Some((
                    intake,
                    i64::try_from(h.remaining_secs).unwrap_or(i64::MAX / 2000),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::up_to_minute;

    #[test]
    fn rounding_never_goes_earlier() {
        assert_eq!(up_to_minute(120_000), 120_000);
        assert_eq!(up_to_minute(120_001), 180_000);
        assert_eq!(up_to_minute(179_999), 180_000);
        assert_eq!(up_to_minute(-1), 0);
    }
}
