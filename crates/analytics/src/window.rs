//! A fixed-capacity rolling window of `(time, value)` readings with its
//! median and median absolute deviation (MAD), in constant memory.
//!
//! The window keeps the readings in arrival order (a ring) and the same
//! values sorted. A push is a binary search plus a shift of at most the
//! window's length, which for the few dozen to few hundred readings a
//! detector looks at beats a pair of heaps with lazy deletion, and allocates
//! nothing after construction.

use std::collections::VecDeque;

use twinkit_core::Millis;

/// `1 / Φ⁻¹(3/4)`: MAD × this estimates σ for normally distributed values.
pub const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;
/// `sqrt(π/2)`: mean absolute deviation × this estimates σ (normal values).
pub const MEAN_AD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// The last `capacity` readings, with order statistics.
#[derive(Debug, Clone)]
pub struct RollingWindow {
    ring: VecDeque<(Millis, f64)>,
    sorted: Vec<f64>,
    capacity: usize,
}

impl RollingWindow {
    /// An empty window of `capacity` readings (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            ring: VecDeque::with_capacity(capacity),
            sorted: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// How many readings it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many readings it holds.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether it holds no reading.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Whether it holds `capacity` readings.
    pub fn is_full(&self) -> bool {
        self.ring.len() == self.capacity
    }

    /// Adds a finite reading, dropping the oldest when full. Non-finite
    /// values are ignored (they would break the ordering).
    pub fn push(&mut self, time: Millis, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.ring.len() == self.capacity {
            if let Some((_, old)) = self.ring.pop_front() {
                let at = self.sorted.partition_point(|x| *x < old);
                // `old` is in `sorted`: every ring value is.
                if at < self.sorted.len() {
                    self.sorted.remove(at);
                }
            }
        }
        self.ring.push_back((time, value));
        let at = self.sorted.partition_point(|x| *x < value);
        self.sorted.insert(at, value);
    }

    /// The readings, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Millis, f64)> + Clone + '_ {
        self.ring.iter().copied()
    }

    /// The `back`-th newest reading (`0` is the newest).
    pub fn nth_newest(&self, back: usize) -> Option<(Millis, f64)> {
        let len = self.ring.len();
        (back < len).then(|| self.ring[len - 1 - back])
    }

    /// The median of the values, `None` when empty.
    pub fn median(&self) -> Option<f64> {
        median_of_sorted(&self.sorted)
    }

    /// `(median, σ estimate)`: the scale is `MAD × 1.4826`, or when the MAD
    /// is 0 (more than half the values equal) the mean absolute deviation
    /// from the median × 1.2533 (Iglewicz and Hoaglin's fallback for the
    /// modified z-score). `None` when empty.
    pub fn median_and_scale(&self) -> Option<(f64, f64)> {
        let median = self.median()?;
        let sorted = &self.sorted;
        let n = sorted.len();
        // The absolute deviations, in ascending order, are a merge of the
        // values walking down from the median and walking up from it: take
        // the (n/2)-th (and the one before it for even n) in O(n/2), with
        // no copy.
        let mut down = sorted.partition_point(|x| *x < median);
        let mut up = down;
        let mut next = || {
            let below = (down > 0).then(|| median - sorted[down - 1]);
            let above = (up < n).then(|| sorted[up] - median);
            match (below, above) {
                (Some(b), Some(a)) if b <= a => {
                    down -= 1;
                    b
                }
                (_, Some(a)) => {
                    up += 1;
                    a
                }
                (Some(b), None) => {
                    down -= 1;
                    b
                }
                (None, None) => 0.0,
            }
        };
        let mid = n / 2;
        let mut previous = 0.0;
        let mut current = next();
        for _ in 0..mid {
            previous = current;
            current = next();
        }
        let mad = if n % 2 == 1 {
            current
        } else {
            (previous + current) / 2.0
        };
        let scale = if mad > 0.0 {
            mad * MAD_TO_SIGMA
        } else {
            let mean_ad = sorted.iter().map(|x| (x - median).abs()).sum::<f64>() / n as f64;
            mean_ad * MEAN_AD_TO_SIGMA
        };
        Some((median, scale))
    }

    /// Forgets every reading.
    pub fn clear(&mut self) {
        self.ring.clear();
        self.sorted.clear();
    }
}

/// The median of an ascending slice, `None` when empty.
pub fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The median of any slice (sorts a copy), `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    median_of_sorted(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn median_and_mad_of_a_known_window() {
        let mut w = RollingWindow::new(5);
        for (i, v) in [1.0, 2.0, 3.0, 4.0, 100.0].into_iter().enumerate() {
            w.push(i as u64, v);
        }
        let (m, s) = w.median_and_scale().unwrap();
        assert_eq!(m, 3.0);
        // |x - 3| = 2,1,0,1,97 → MAD 1.
        assert!((s - MAD_TO_SIGMA).abs() < 1e-12);
        // Pushing drops the oldest (1.0).
        w.push(5, 5.0);
        assert_eq!(w.median(), Some(4.0));
        assert_eq!(w.len(), 5);
        assert_eq!(w.nth_newest(0), Some((5, 5.0)));
        assert_eq!(w.nth_newest(4), Some((1, 2.0)));
        assert_eq!(w.nth_newest(5), None);
    }

    #[test]
    fn mad_zero_falls_back_to_mean_absolute_deviation() {
        let mut w = RollingWindow::new(10);
        for i in 0..9 {
            w.push(i, 7.0);
        }
        w.push(9, 17.0);
        let (m, s) = w.median_and_scale().unwrap();
        assert_eq!(m, 7.0);
        assert!((s - 1.0 * MEAN_AD_TO_SIGMA).abs() < 1e-12, "{s}");
        let mut flat = RollingWindow::new(4);
        for i in 0..4 {
            flat.push(i, 2.0);
        }
        assert_eq!(flat.median_and_scale(), Some((2.0, 0.0)));
        assert_eq!(RollingWindow::new(3).median_and_scale(), None);
    }

    #[test]
    fn non_finite_values_are_ignored() {
        let mut w = RollingWindow::new(3);
        w.push(0, f64::NAN);
        w.push(1, f64::INFINITY);
        assert!(w.is_empty());
        w.push(2, 1.0);
        assert_eq!(w.median(), Some(1.0));
    }

    proptest! {
        #[test]
        fn matches_sorting_the_last_values(values in prop::collection::vec(-1e6..1e6f64, 1..200), cap in 1usize..40) {
            let mut w = RollingWindow::new(cap);
            for (i, v) in values.iter().enumerate() {
                w.push(i as u64, *v);
                let start = (i + 1).saturating_sub(cap);
                let last = &values[start..=i];
                prop_assert_eq!(w.median(), median(last));
                let m = median(last).unwrap();
                let devs: Vec<f64> = last.iter().map(|x| (x - m).abs()).collect();
                let mad = median(&devs).unwrap();
                let (_, s) = w.median_and_scale().unwrap();
                let expect = if mad > 0.0 {
                    mad * MAD_TO_SIGMA
                } else {
                    devs.iter().sum::<f64>() / devs.len() as f64 * MEAN_AD_TO_SIGMA
                };
                prop_assert!((s - expect).abs() <= 1e-9 * expect.abs().max(1.0));
                prop_assert!(w.iter().map(|(t, _)| t as usize).eq(start..=i));
            }
        }
    }
}
