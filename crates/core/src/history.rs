//! Bounded per-property telemetry history.
//!
//! Each property is a time-sorted column with its own bound: numbers as
//! `(time, f64)` pairs (16 bytes a point), other values as `(time, value)`.
//! Columns keep memory small at the 24-hour default (tens of thousands of
//! points per property) and let a query for the newest `limit` points walk
//! back from the end, in time proportional to `limit`, whatever the size of
//! the history.

use std::collections::{BTreeMap, VecDeque};

use indexmap::IndexMap;

use crate::value::{TelemetryData, TelemetryValue};
use crate::Millis;

#[derive(Debug, Clone)]
enum Column {
    Numbers(VecDeque<(Millis, f64)>),
    Values(VecDeque<(Millis, TelemetryValue)>),
}

static NO_NUMBERS: VecDeque<(Millis, f64)> = VecDeque::new();

impl Column {
    fn len(&self) -> usize {
        match self {
            Self::Numbers(c) => c.len(),
            Self::Values(c) => c.len(),
        }
    }

    fn time_at(&self, i: usize) -> Millis {
        match self {
            Self::Numbers(c) => c[i].0,
            Self::Values(c) => c[i].0,
        }
    }

    fn value_at(&self, i: usize) -> TelemetryValue {
        match self {
            Self::Numbers(c) => TelemetryValue::Number(c[i].1),
            Self::Values(c) => c[i].1.clone(),
        }
    }

    /// Where a point at `time` goes: after every point at or before it.
    fn position(&self, time: Millis) -> usize {
        match self {
            Self::Numbers(c) if c.back().is_none_or(|p| p.0 <= time) => c.len(),
            Self::Values(c) if c.back().is_none_or(|p| p.0 <= time) => c.len(),
            Self::Numbers(c) => c.partition_point(|p| p.0 <= time),
            Self::Values(c) => c.partition_point(|p| p.0 <= time),
        }
    }

    fn insert(&mut self, at: usize, time: Millis, value: TelemetryValue) {
        if let (Self::Numbers(c), TelemetryValue::Number(n)) = (&mut *self, &value) {
            c.insert(at, (time, *n));
            return;
        }
        if let Self::Numbers(c) = self {
            // A non-number in a number column: widen the column, losing nothing.
            let widened = c
                .drain(..)
                .map(|(t, n)| (t, TelemetryValue::Number(n)))
                .collect();
            *self = Self::Values(widened);
        }
        if let Self::Values(c) = self {
            c.insert(at, (time, value));
        }
    }

    fn pop_front(&mut self) {
        match self {
            Self::Numbers(c) => {
                c.pop_front();
            }
            Self::Values(c) => {
                c.pop_front();
            }
        }
    }
}

/// Telemetry of one twin: per property, the newest `capacity` points in
/// time order.
#[derive(Debug, Clone)]
pub struct TelemetryHistory {
    capacity: usize,
    series: IndexMap<String, Column>,
}

impl TelemetryHistory {
    /// An empty history keeping up to `capacity` points per property (at
    /// least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            series: IndexMap::new(),
        }
    }

    /// Points kept per property.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records a point, in time order (a late point is inserted where it
    /// belongs, after points with the same time). When the property's column
    /// is full the oldest point goes; a late point older than every point of
    /// a full column is not kept. Returns whether the point was kept.
    pub fn record(&mut self, property: &str, time: Millis, value: TelemetryValue) -> bool {
        let capacity = self.capacity;
        let column = match self.series.get_mut(property) {
            Some(column) => column,
            None => {
                let column = match value {
                    TelemetryValue::Number(_) => Column::Numbers(VecDeque::new()),
                    _ => Column::Values(VecDeque::new()),
                };
                self.series.entry(property.to_string()).or_insert(column)
            }
        };
        let at = column.position(time);
        if at == 0 && column.len() >= capacity {
            return false;
        }
        column.insert(at, time, value);
        if column.len() > capacity {
            column.pop_front();
        }
        true
    }

    /// Records oldest first: the newest `limit` (all when `None`). With a
    /// property, one record per point holding only that property; without,
    /// one record per instant holding every property measured then.
    pub fn records(
        &self,
        device_id: &str,
        property: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<TelemetryData> {
        let record = |timestamp, values| TelemetryData {
            device_id: device_id.to_string(),
            timestamp,
            values,
        };
        if let Some(property) = property {
            let Some(column) = self.series.get(property) else {
                return Vec::new();
            };
            let n = column.len();
            let start = n - limit.map_or(n, |l| l.min(n));
            return (start..n)
                .map(|i| {
                    let values = BTreeMap::from([(property.to_string(), column.value_at(i))]);
                    record(column.time_at(i), values)
                })
                .collect();
        }
        // Merge the columns backward from their newest points.
        let limit = limit.unwrap_or(usize::MAX);
        let mut ends: Vec<usize> = self.series.values().map(Column::len).collect();
        let mut out = Vec::new();
        while out.len() < limit {
            let newest = self
                .series
                .values()
                .zip(&ends)
                .filter(|(_, &end)| end > 0)
                .map(|(column, &end)| column.time_at(end - 1))
                .max();
            let Some(time) = newest else { break };
            let mut values = BTreeMap::new();
            for ((name, column), end) in self.series.iter().zip(ends.iter_mut()) {
                if *end > 0 && column.time_at(*end - 1) == time {
                    *end -= 1;
                    values.insert(name.clone(), column.value_at(*end));
                }
            }
            out.push(record(time, values));
        }
        out.reverse();
        out
    }

    /// A property's numeric points, oldest first, without copying the
    /// column. Empty for unknown properties and for columns that hold
    /// non-numbers.
    pub fn numeric_series(
        &self,
        property: &str,
    ) -> impl DoubleEndedIterator<Item = (Millis, f64)> + ExactSizeIterator + Clone + '_ {
        match self.series.get(property) {
            Some(Column::Numbers(c)) => c.iter().copied(),
            _ => NO_NUMBERS.iter().copied(),
        }
    }

    /// The newest `n` numeric points of a property, oldest first.
    pub fn numeric_tail(
        &self,
        property: &str,
        n: usize,
    ) -> impl DoubleEndedIterator<Item = (Millis, f64)> + ExactSizeIterator + Clone + '_ {
        let series = self.numeric_series(property);
        let skip = series.len().saturating_sub(n);
        series.skip(skip)
    }

    /// Points kept for a property.
    pub fn len(&self, property: &str) -> usize {
        self.series.get(property).map_or(0, Column::len)
    }

    /// Whether no point is kept at all.
    pub fn is_empty(&self) -> bool {
        self.series.values().all(|c| c.len() == 0)
    }

    /// Points kept over all properties.
    pub fn total_points(&self) -> usize {
        self.series.values().map(Column::len).sum()
    }

    /// A property's newest point.
    pub fn latest(&self, property: &str) -> Option<(Millis, TelemetryValue)> {
        let column = self.series.get(property)?;
        let last = column.len().checked_sub(1)?;
        Some((column.time_at(last), column.value_at(last)))
    }

    /// Properties with points, in the order first recorded.
    pub fn properties(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// Forgets every point.
    pub fn clear(&mut self) {
        self.series.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(v: f64) -> TelemetryValue {
        TelemetryValue::Number(v)
    }

    fn times(records: &[TelemetryData]) -> Vec<Millis> {
        records.iter().map(|r| r.timestamp).collect()
    }

    #[test]
    fn bounded_per_property_oldest_first() {
        let mut h = TelemetryHistory::new(3);
        for t in 0..5 {
            h.record("a", t, n(t as f64));
        }
        h.record("b", 9, n(1.0));
        assert_eq!(h.len("a"), 3);
        assert_eq!(h.len("b"), 1);
        assert_eq!(times(&h.records("d", Some("a"), None)), [2, 3, 4]);
        assert_eq!(times(&h.records("d", Some("a"), Some(2))), [3, 4]);
        assert_eq!(times(&h.records("d", Some("a"), Some(99))), [2, 3, 4]);
        assert!(h.records("d", Some("a"), Some(0)).is_empty());
        assert!(h.records("d", Some("zzz"), None).is_empty());
        let r = &h.records("dev", Some("a"), Some(1))[0];
        assert_eq!(r.device_id, "dev");
        assert_eq!(r.values, BTreeMap::from([("a".to_string(), n(4.0))]));
        assert_eq!(h.total_points(), 4);
        assert_eq!(h.properties().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn unfiltered_records_group_equal_times() {
        let mut h = TelemetryHistory::new(10);
        h.record("a", 1, n(1.0));
        h.record("b", 1, TelemetryValue::Bool(true));
        h.record("a", 2, n(2.0));
        h.record("b", 3, TelemetryValue::String("x".into()));
        let all = h.records("d", None, None);
        assert_eq!(times(&all), [1, 2, 3]);
        assert_eq!(all[0].values.len(), 2);
        assert_eq!(all[2].values["b"], TelemetryValue::String("x".into()));
        assert_eq!(times(&h.records("d", None, Some(2))), [2, 3]);
    }

    #[test]
    fn late_points_are_inserted_in_order_or_dropped_when_too_old() {
        let mut h = TelemetryHistory::new(3);
        assert!(h.record("a", 10, n(1.0)));
        assert!(h.record("a", 30, n(3.0)));
        assert!(h.record("a", 20, n(2.0)));
        assert!(h.record("a", 20, n(2.5)));
        assert_eq!(times(&h.records("d", Some("a"), None)), [20, 20, 30]);
        let values: Vec<f64> = h.numeric_series("a").map(|p| p.1).collect();
        assert_eq!(values, [2.0, 2.5, 3.0], "equal times keep arrival order");
        assert!(!h.record("a", 5, n(0.0)), "older than a full column");
        assert_eq!(h.len("a"), 3);
    }

    #[test]
    fn numeric_series_and_tail() {
        let mut h = TelemetryHistory::new(100);
        for t in 0..10 {
            h.record("a", t, n(t as f64 * 2.0));
        }
        h.record("s", 0, TelemetryValue::String("x".into()));
        let mut s = h.numeric_series("a");
        assert_eq!(s.len(), 10);
        assert_eq!(s.clone().next(), Some((0, 0.0)));
        assert_eq!(s.next_back(), Some((9, 18.0)));
        assert_eq!(
            h.numeric_tail("a", 3).collect::<Vec<_>>(),
            [(7, 14.0), (8, 16.0), (9, 18.0)]
        );
        assert_eq!(h.numeric_tail("a", 30).len(), 10);
        assert_eq!(h.numeric_series("s").len(), 0);
        assert_eq!(h.numeric_series("none").len(), 0);
        assert_eq!(h.latest("a"), Some((9, n(18.0))));
        assert_eq!(h.latest("none"), None);
    }

    #[test]
    fn mixed_kinds_widen_without_loss() {
        let mut h = TelemetryHistory::new(10);
        h.record("a", 1, n(1.0));
        h.record("a", 2, TelemetryValue::Bool(false));
        h.record("a", 3, n(3.0));
        let values: Vec<TelemetryValue> = h
            .records("d", Some("a"), None)
            .into_iter()
            .map(|r| r.values["a"].clone())
            .collect();
        assert_eq!(values, [n(1.0), TelemetryValue::Bool(false), n(3.0)]);
        h.clear();
        assert!(h.is_empty());
    }

    /// The obvious implementation: every point kept, stably sorted, then cut.
    fn naive(
        points: &[(u8, Millis, f64)],
        capacity: usize,
        property: Option<u8>,
        limit: Option<usize>,
    ) -> Vec<(Millis, Vec<(String, f64)>)> {
        let mut by_prop: BTreeMap<u8, Vec<(Millis, f64)>> = BTreeMap::new();
        for &(p, t, v) in points {
            let col = by_prop.entry(p).or_default();
            // Stable insert after equal times; a point older than a full
            // column is not kept.
            let at = col.partition_point(|x| x.0 <= t);
            if at == 0 && col.len() >= capacity {
                continue;
            }
            col.insert(at, (t, v));
            if col.len() > capacity {
                col.remove(0);
            }
        }
        let limit = limit.unwrap_or(usize::MAX);
        match property {
            Some(p) => {
                let col = by_prop.get(&p).cloned().unwrap_or_default();
                let start = col.len() - limit.min(col.len());
                col[start..]
                    .iter()
                    .map(|&(t, v)| (t, vec![(format!("p{p}"), v)]))
                    .collect()
            }
            None => {
                let mut ends: BTreeMap<u8, usize> =
                    by_prop.iter().map(|(p, c)| (*p, c.len())).collect();
                let mut out = Vec::new();
                while out.len() < limit {
                    let Some(time) = by_prop
                        .iter()
                        .filter(|(p, _)| ends[p] > 0)
                        .map(|(p, c)| c[ends[p] - 1].0)
                        .max()
                    else {
                        break;
                    };
                    let mut values = Vec::new();
                    for (p, c) in &by_prop {
                        let end = ends.get_mut(p).unwrap();
                        if *end > 0 && c[*end - 1].0 == time {
                            *end -= 1;
                            values.push((format!("p{p}"), c[*end].1));
                        }
                    }
                    values.sort_by(|a, b| a.0.cmp(&b.0));
                    out.push((time, values));
                }
                out.reverse();
                out
            }
        }
    }

    fn flatten(records: Vec<TelemetryData>) -> Vec<(Millis, Vec<(String, f64)>)> {
        records
            .into_iter()
            .map(|r| {
                (
                    r.timestamp,
                    r.values
                        .into_iter()
                        .map(|(k, v)| (k, v.as_f64().unwrap()))
                        .collect(),
                )
            })
            .collect()
    }

    proptest! {
        #[test]
        fn matches_the_naive_history(
            points in prop::collection::vec((0u8..3, 0u64..40, -100.0f64..100.0), 0..120),
            capacity in 1usize..12,
            property in prop::option::of(0u8..4),
            limit in prop::option::of(0usize..30),
        ) {
            let mut h = TelemetryHistory::new(capacity);
            for &(p, t, v) in &points {
                h.record(&format!("p{p}"), t, n(v));
            }
            let name = property.map(|p| format!("p{p}"));
            let got = flatten(h.records("d", name.as_deref(), limit));
            prop_assert_eq!(got, naive(&points, capacity, property, limit));
            for p in 0..3u8 {
                let series: Vec<_> = h.numeric_series(&format!("p{p}")).collect();
                prop_assert!(series.len() <= capacity);
                prop_assert!(series.windows(2).all(|w| w[0].0 <= w[1].0));
            }
        }
    }
}
