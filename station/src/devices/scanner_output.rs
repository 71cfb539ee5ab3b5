//! What a scanner reader tells the workflow, shared by the serial and the keyboard-wedge
//! readers: each code, and each change of connection (only a change), given up as soon as
//! shutdown is signalled or nobody listens any more.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;

use super::Input;

/// The reader stops: shutdown was signalled, or nobody listens for inputs any more.
pub(crate) struct Stop;

/// The reader's side of the workflow's input channel.
pub(crate) struct ScannerOutput {
    inputs: mpsc::Sender<Input>,
    /// What the workflow was last told; it starts out assuming a scanner.
    connected: bool,
}

impl ScannerOutput {
    pub(crate) fn new(inputs: mpsc::Sender<Input>) -> ScannerOutput {
        ScannerOutput {
            inputs,
            connected: true,
        }
    }

    /// Whether the workflow was last told the scanner is there.
    pub(crate) fn connected(&self) -> bool {
        self.connected
    }

    /// Tells the workflow about a change of connection, and only about a change.
    pub(crate) async fn set_connected<F: Future>(
        &mut self,
        connected: bool,
        shutdown: Pin<&mut F>,
    ) -> Result<(), Stop> {
        if self.connected == connected {
            return Ok(());
        }
        self.connected = connected;
        self.send(Input::ScannerConnected(connected), shutdown)
            .await
    }

    /// Sends one input, unless shutdown comes first.
    pub(crate) async fn send<F: Future>(
        &self,
        input: Input,
        shutdown: Pin<&mut F>,
    ) -> Result<(), Stop> {
        tokio::select! {
            biased;
            _ = shutdown => Err(Stop),
            sent = self.inputs.send(input) => sent.map_err(|_| Stop),
        }
    }
}
