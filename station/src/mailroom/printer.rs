//! The mailroom's label printer as staff see it: asked for its state on every refresh and after
//! a failed print; a change is recorded as fault events (as the kiosk records its printer's) and
//! a printer that cannot print is shown on the screen with what to do.

use records::Payload;

use super::Mailroom;
use crate::clock;
use crate::devices::PrinterStatus;
use crate::printing;

impl Mailroom {
    /// Asks the printer for its state; records and shows a change.
    pub(super) async fn check_printer(&self) {
        let Some(printer) = self.printer.clone() else {
            return;
        };
        let status = tokio::task::spawn_blocking(move || printer.status())
            .await
            .unwrap_or(PrinterStatus::Offline);
        let previous = {
            let mut known = self
                .printer_status
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *known, status)
        };
        if previous == status {
            return;
        }
        tracing::info!("mailroom: printer is now {status:?}");
        let now = clock::now();
        let events: Vec<(records::Timestamp, Payload)> = printing::fault_events(previous, status)
            .into_iter()
            .map(|p| (now, p))
            .collect();
        if !events.is_empty()
            && let Err(e) = self.log.append_all(events).await
        {
            tracing::error!("mailroom: printer fault not recorded: {e}");
        }
        let shown = (status != PrinterStatus::Ready).then(|| status.message().to_owned());
        self.view.send_modify(|v| {
            v.printer = shown;
            v.version += 1;
        });
    }
}
