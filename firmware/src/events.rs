//! A tiny fixed-size list of the events that one update produced (no allocator here).

/// How many events one update can produce at most.
pub const MAX_EVENTS: usize = 3;

/// The events produced by one call to an `update` method, in the order they happened.
///
/// An iterator; it never allocates. Drop it unread and the events are lost, hence `must_use`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "events that are not read are lost"]
pub struct Events<T> {
    items: [Option<T>; MAX_EVENTS],
    next: usize,
    len: usize,
}

impl<T> Events<T> {
    pub(crate) const fn new() -> Self {
        Self {
            items: [None, None, None],
            next: 0,
            len: 0,
        }
    }

    /// Appends an event. The state machines are written so that they never produce more than
    /// [`MAX_EVENTS`] at once; were one more to come, it would be dropped rather than panic.
    pub(crate) fn push(&mut self, event: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(event);
            self.len += 1;
        }
    }

    /// True when nothing (more) is to be read.
    pub fn is_empty(&self) -> bool {
        self.next >= self.len
    }
}

impl<T> Iterator for Events<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.items.get_mut(self.next)?.take();
        if item.is_some() {
            self.next += 1;
        }
        item
    }
}
