//! The sliding window: the last W system calls of one stream, in call order.

use crate::alphabet::Sym;

/// The largest window a profile may ask for. Counts in a bag are `u8` and windows are snapshot into
/// fixed arrays on the hot path, so the bound keeps both small.
pub const MAX_WINDOW: usize = 64;

/// A ring buffer of the last `size` calls. Pushing is O(1) and never allocates.
#[derive(Debug, Clone)]
pub struct Window {
    calls: Box<[Sym]>,
    /// Index of the oldest call once the window is full (where the next call goes).
    next: usize,
    len: usize,
}

impl Window {
    /// An empty window of `size` calls (1 ≤ size ≤ [`MAX_WINDOW`]).
    pub fn new(size: usize) -> Window {
        assert!(
            (1..=MAX_WINDOW).contains(&size),
            "window size {size} out of range"
        );
        Window {
            calls: vec![Sym(0); size].into_boxed_slice(),
            next: 0,
            len: 0,
        }
    }

    /// The window size W.
    pub fn size(&self) -> usize {
        self.calls.len()
    }

    /// True once W calls have been pushed.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.calls.len()
    }

    /// Appends a call; returns the call that fell out of a full window.
    #[inline]
    pub fn push(&mut self, sym: Sym) -> Option<Sym> {
        let size = self.calls.len();
        let slot = &mut self.calls[self.next];
        let evicted = if self.len == size {
            Some(*slot)
        } else {
            self.len += 1;
            None
        };
        *slot = sym;
        self.next += 1;
        if self.next == size {
            self.next = 0;
        }
        evicted
    }

    /// The last call pushed, if any.
    #[inline]
    pub fn newest(&self) -> Option<Sym> {
        let size = self.calls.len();
        (self.len > 0).then(|| self.calls[(self.next + size - 1) % size])
    }

    /// The calls in the window, oldest first.
    pub fn calls(&self) -> impl Iterator<Item = Sym> + '_ {
        let start = if self.is_full() { self.next } else { 0 };
        (0..self.len).map(move |i| self.calls[(start + i) % self.calls.len()])
    }

    /// Empties the window, returning what it held (oldest first) so a bag can be emptied too.
    pub fn drain(&mut self) -> impl Iterator<Item = Sym> + '_ {
        let start = if self.is_full() { self.next } else { 0 };
        let len = std::mem::take(&mut self.len);
        self.next = 0;
        let calls = &self.calls;
        (0..len).map(move |i| calls[(start + i) % calls.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syms(w: &Window) -> Vec<u16> {
        w.calls().map(|s| s.0).collect()
    }

    #[test]
    fn keeps_the_last_w_calls_in_order() {
        let mut w = Window::new(3);
        assert_eq!(w.push(Sym(1)), None);
        assert_eq!(w.push(Sym(2)), None);
        assert!(!w.is_full());
        assert_eq!(syms(&w), [1, 2]);
        assert_eq!(w.push(Sym(3)), None);
        assert!(w.is_full());
        assert_eq!(w.push(Sym(4)), Some(Sym(1)));
        assert_eq!(w.push(Sym(5)), Some(Sym(2)));
        assert_eq!(syms(&w), [3, 4, 5]);
    }

    #[test]
    fn drain_empties_and_returns_contents() {
        let mut w = Window::new(2);
        for s in [7, 8, 9] {
            w.push(Sym(s));
        }
        let drained: Vec<u16> = w.drain().map(|s| s.0).collect();
        assert_eq!(drained, [8, 9]);
        assert!(!w.is_full());
        assert_eq!(syms(&w), Vec::<u16>::new());
        assert_eq!(w.push(Sym(1)), None);
    }

    #[test]
    fn window_of_one_holds_the_last_call() {
        let mut w = Window::new(1);
        assert_eq!(w.push(Sym(1)), None);
        assert_eq!(w.push(Sym(2)), Some(Sym(1)));
        assert_eq!(syms(&w), [2]);
    }
}
