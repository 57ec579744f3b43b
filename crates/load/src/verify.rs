//! Delivery verification: pure bookkeeping, no I/O and no clock.
//!
//! Each receiver keeps one [`RoomTrack`] for its room: per sequence the fingerprint of
//! the post id it received there (not the text), the highest sequence seen (the `since`
//! of a resume), and counters for duplicates and disorder detected on arrival. Senders
//! keep, per acknowledged post, its sequence and id fingerprint; those are gathered per
//! room into an [`AckLog`]. [`check`] compares one receiver's track with its room's log
//! once the run is over: every acknowledged sequence from the receiver's start onward
//! must have been received, and with the acknowledged post's id.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use tuitalk_protocol::Seq;

/// The most sequences one track keeps slots for beyond its start. A sequence further
/// away is counted as out of order and not stored, so a bogus `seq` cannot make the
/// process allocate without bound (2^26 slots are 512 MiB).
pub const MAX_TRACKED: u64 = 1 << 26;

/// A 64-bit fingerprint of a post id, never 0 (0 marks an empty slot).
///
/// Two different ids collide with probability about 2^-64 per pair, negligible for the
/// millions of posts a run makes.
pub fn fingerprint(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish().max(1)
}

/// How a `message` event was taken by [`RoomTrack::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The next sequence, as expected.
    InOrder,
    /// A new sequence, but not the next one: the sequences between were skipped (a
    /// hole). Counted as out of order.
    Hole,
    /// A sequence below the highest seen that had not arrived yet: a hole filled late.
    /// Counted as out of order.
    Late,
    /// A sequence already received (or below the start). Counted as duplicated and
    /// otherwise ignored.
    Duplicate,
    /// A sequence too far beyond the start to keep ([`MAX_TRACKED`]). Counted as out of
    /// order and otherwise ignored.
    Untracked,
}

impl Receipt {
    /// Whether this receipt is a first delivery of its sequence (it counts as a delivery
    /// and its latency is measured).
    pub fn is_new(self) -> bool {
        matches!(self, Self::InOrder | Self::Hole | Self::Late)
    }
}

/// What one receiver got in one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomTrack {
    /// The first sequence this receiver must receive; `None` before the first `joined`.
    start: Option<Seq>,
    /// The highest sequence seen (or the head at the first join): the `since` of a
    /// resume.
    last: Seq,
    /// Fingerprint of the id received at `start + i`; 0 when not received.
    slots: Vec<u64>,
    /// First deliveries.
    deliveries: u64,
    /// Repeated deliveries of a sequence.
    duplicated: u64,
    /// Holes and late fills.
    out_of_order: u64,
    /// Re-joins whose `head` was below the last sequence seen (the store was reset).
    resets: u64,
}

impl RoomTrack {
    /// An empty track (not joined yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a `joined` answer. The first one fixes the start at `head + 1`: the
    /// receiver joined before the senders began, so everything after the head is its to
    /// receive. A later one (a resume) with `head` below the last sequence seen means the
    /// server's store was reset; it is counted, nothing else changes.
    pub fn joined(&mut self, head: Seq) {
        match self.start {
            None => {
                self.start = Some(head.saturating_add(1));
                self.last = head;
            }
            Some(_) if head < self.last => self.resets += 1,
            Some(_) => {}
        }
    }

    /// The `since` for a resume: the highest sequence seen, or `None` before the first
    /// `joined` (a fresh join).
    pub fn since(&self) -> Option<Seq> {
        self.start.map(|_| self.last)
    }

    /// The highest sequence seen (the head at the first join until a message arrives).
    pub fn last(&self) -> Seq {
        self.last
    }

    /// The first sequence this receiver must receive, once joined.
    pub fn start(&self) -> Option<Seq> {
        self.start
    }

    /// Records a `message` event of sequence `seq` whose post id has fingerprint `fp`.
    pub fn message(&mut self, seq: Seq, fp: u64) -> Receipt {
        let start = match self.start {
            Some(start) => start,
            None => {
                // A message before any `joined` (not expected): start from it.
                self.start = Some(seq);
                self.last = seq.saturating_sub(1);
                seq
            }
        };
        if seq < start {
            self.duplicated += 1;
            return Receipt::Duplicate;
        }
        let offset = seq - start;
        if offset >= MAX_TRACKED {
            self.out_of_order += 1;
            return Receipt::Untracked;
        }
        // `offset < MAX_TRACKED` fits in usize on every supported target.
        let index = offset as usize;
        if seq <= self.last {
            return match self.slots.get_mut(index) {
                Some(slot) if *slot == 0 => {
                    *slot = fp;
                    self.deliveries += 1;
                    self.out_of_order += 1;
                    Receipt::Late
                }
                Some(_) => {
                    self.duplicated += 1;
                    Receipt::Duplicate
                }
                None => {
                    // At or below the head of the first join: delivered as history.
                    self.duplicated += 1;
                    Receipt::Duplicate
                }
            };
        }
        let receipt = if seq == self.last + 1 {
            Receipt::InOrder
        } else {
            self.out_of_order += 1;
            Receipt::Hole
        };
        if self.slots.len() <= index {
            self.slots.resize(index + 1, 0);
        }
        self.slots[index] = fp;
        self.last = seq;
        self.deliveries += 1;
        receipt
    }

    /// The fingerprint received at `seq`, if any.
    pub fn received(&self, seq: Seq) -> Option<u64> {
        let start = self.start?;
        let index = usize::try_from(seq.checked_sub(start)?).ok()?;
        self.slots.get(index).copied().filter(|fp| *fp != 0)
    }

    /// First deliveries so far.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// Repeated deliveries so far.
    pub fn duplicated(&self) -> u64 {
        self.duplicated
    }

    /// Holes and late fills so far.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Re-joins that found the room's head below the last sequence seen.
    pub fn resets(&self) -> u64 {
        self.resets
    }
}

/// The acknowledged posts of one room: sequence → id fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckLog {
    acked: HashMap<Seq, u64>,
    conflicts: u64,
}

impl AckLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the post with id fingerprint `fp` was acknowledged as `seq`. A second
    /// post acknowledged with the same sequence is a conflict (two posts, one slot) and
    /// counts as a mismatch; the first one stays.
    pub fn record(&mut self, seq: Seq, fp: u64) {
        match self.acked.get(&seq) {
            Some(existing) if *existing != fp => self.conflicts += 1,
            Some(_) => {}
            None => {
                self.acked.insert(seq, fp);
            }
        }
    }

    /// How many distinct sequences were acknowledged.
    pub fn len(&self) -> usize {
        self.acked.len()
    }

    /// Whether nothing was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.acked.is_empty()
    }

    /// Posts acknowledged with a sequence another post already had.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// The highest acknowledged sequence (0 when none).
    pub fn max_seq(&self) -> Seq {
        self.acked.keys().copied().max().unwrap_or(0)
    }
}

/// The outcome of checking receivers against acknowledgements; counts add up over
/// receivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Acknowledged posts a receiver should have received.
    pub expected: u64,
    /// First deliveries (of any sequence, acknowledged or not).
    pub delivered: u64,
    /// Acknowledged sequences a receiver never got.
    pub lost: u64,
    /// Repeated deliveries.
    pub duplicated: u64,
    /// Holes and late fills seen on arrival.
    pub out_of_order: u64,
    /// Sequences received with another post id than the acknowledged one (and
    /// sequences acknowledged to two different posts).
    pub mismatched: u64,
    /// Re-joins that found the store reset.
    pub resets: u64,
}

impl Tally {
    /// Adds another tally to this one.
    pub fn add(&mut self, other: Tally) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.mismatched += other.mismatched;
        self.resets += other.resets;
    }

    /// Whether nothing was lost, duplicated, out of order or mismatched.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.mismatched == 0
    }
}

/// Checks one receiver's track against its room's acknowledgements: every acknowledged
/// sequence from the track's start onward must have been received exactly once (the
/// duplicates were counted on arrival) and carry the acknowledged id. A receiver that
/// never joined expects nothing and is reported by its caller.
pub fn check(track: &RoomTrack, log: &AckLog) -> Tally {
    let mut tally = Tally {
        delivered: track.deliveries(),
        duplicated: track.duplicated(),
        out_of_order: track.out_of_order(),
        resets: track.resets(),
        ..Tally::default()
    };
    let Some(start) = track.start() else {
        return tally;
    };
    for (&seq, &fp) in &log.acked {
        if seq < start {
            continue;
        }
        tally.expected += 1;
        match track.received(seq) {
            None => tally.lost += 1,
            Some(got) if got != fp => tally.mismatched += 1,
            Some(_) => {}
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u64) -> u64 {
        fingerprint(&format!("post-{n}"))
    }

    fn log_of(seqs: impl IntoIterator<Item = Seq>) -> AckLog {
        let mut log = AckLog::new();
        for seq in seqs {
            log.record(seq, fp(seq));
        }
        log
    }

    #[test]
    fn fingerprints_are_stable_and_nonzero() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert_ne!(fingerprint(""), 0);
    }

    #[test]
    fn in_order_delivery_is_clean() {
        let mut track = RoomTrack::new();
        track.joined(10);
        assert_eq!(track.since(), Some(10));
        for seq in 11..=20 {
            assert_eq!(track.message(seq, fp(seq)), Receipt::InOrder);
        }
        assert_eq!(track.since(), Some(20));
        let tally = check(&track, &log_of(11..=20));
        assert_eq!(tally.expected, 10);
        assert_eq!(tally.delivered, 10);
        assert!(tally.is_clean(), "{tally:?}");
    }

    #[test]
    fn since_is_none_before_joining() {
        assert_eq!(RoomTrack::new().since(), None);
    }

    #[test]
    fn acked_before_the_start_is_not_expected() {
        let mut track = RoomTrack::new();
        track.joined(5);
        track.message(6, fp(6));
        let tally = check(&track, &log_of(1..=6));
        assert_eq!(tally.expected, 1);
        assert!(tally.is_clean());
    }

    #[test]
    fn missing_sequences_are_lost() {
        let mut track = RoomTrack::new();
        track.joined(0);
        for seq in 1..=3 {
            track.message(seq, fp(seq));
        }
        // 4 and 5 were acknowledged but never arrived.
        let tally = check(&track, &log_of(1..=5));
        assert_eq!(tally.lost, 2);
        assert_eq!(tally.out_of_order, 0);
        assert!(!tally.is_clean());
    }

    #[test]
    fn first_message_missing_is_lost() {
        let mut track = RoomTrack::new();
        track.joined(0);
        assert_eq!(track.message(2, fp(2)), Receipt::Hole);
        let tally = check(&track, &log_of(1..=2));
        assert_eq!((tally.lost, tally.out_of_order), (1, 1));
    }

    #[test]
    fn repeats_are_duplicates() {
        let mut track = RoomTrack::new();
        track.joined(0);
        track.message(1, fp(1));
        track.message(2, fp(2));
        assert_eq!(track.message(2, fp(2)), Receipt::Duplicate);
        assert_eq!(track.message(1, fp(1)), Receipt::Duplicate);
        let tally = check(&track, &log_of(1..=2));
        assert_eq!(tally.duplicated, 2);
        assert_eq!(tally.lost, 0);
        assert_eq!(tally.delivered, 2);
    }

    #[test]
    fn history_below_the_start_is_a_duplicate() {
        let mut track = RoomTrack::new();
        track.joined(7);
        assert_eq!(track.message(7, fp(7)), Receipt::Duplicate);
        assert_eq!(track.message(3, fp(3)), Receipt::Duplicate);
        assert_eq!(track.duplicated(), 2);
    }

    #[test]
    fn holes_and_late_fills_are_out_of_order_but_not_lost() {
        let mut track = RoomTrack::new();
        track.joined(0);
        track.message(1, fp(1));
        assert_eq!(track.message(3, fp(3)), Receipt::Hole);
        assert_eq!(track.message(2, fp(2)), Receipt::Late);
        assert_eq!(track.last(), 3);
        let tally = check(&track, &log_of(1..=3));
        assert_eq!(tally.out_of_order, 2);
        assert_eq!((tally.lost, tally.duplicated), (0, 0));
        assert_eq!(tally.delivered, 3);
    }

    #[test]
    fn wrong_id_at_a_sequence_is_a_mismatch() {
        let mut track = RoomTrack::new();
        track.joined(0);
        track.message(1, fp(1));
        track.message(2, fingerprint("someone-else"));
        let tally = check(&track, &log_of(1..=2));
        assert_eq!(tally.mismatched, 1);
        assert_eq!(tally.lost, 0);
    }

    #[test]
    fn unacknowledged_deliveries_are_not_errors() {
        let mut track = RoomTrack::new();
        track.joined(0);
        for seq in 1..=4 {
            track.message(seq, fp(seq));
        }
        // Only 1 and 2 were acknowledged (3 and 4 may be another client's posts).
        let tally = check(&track, &log_of(1..=2));
        assert_eq!(tally.expected, 2);
        assert_eq!(tally.delivered, 4);
        assert!(tally.is_clean());
    }

    #[test]
    fn resume_keeps_since_and_counts_store_resets() {
        let mut track = RoomTrack::new();
        track.joined(0);
        track.message(1, fp(1));
        track.message(2, fp(2));
        track.joined(5); // a normal resume: head moved on
        assert_eq!(track.since(), Some(2));
        assert_eq!(track.resets(), 0);
        track.joined(1); // head below what we saw: the store was reset
        assert_eq!(track.resets(), 1);
        assert_eq!(track.start(), Some(1));
    }

    #[test]
    fn message_before_join_starts_the_track() {
        let mut track = RoomTrack::new();
        assert_eq!(track.message(4, fp(4)), Receipt::InOrder);
        assert_eq!(track.start(), Some(4));
        assert_eq!(track.received(4), Some(fp(4)));
        assert_eq!(track.received(3), None);
    }

    #[test]
    fn absurd_sequences_do_not_allocate() {
        let mut track = RoomTrack::new();
        track.joined(0);
        assert_eq!(track.message(u64::MAX, fp(1)), Receipt::Untracked);
        assert_eq!(track.out_of_order(), 1);
        assert_eq!(track.last(), 0);
        assert_eq!(track.message(1, fp(1)), Receipt::InOrder);
    }

    #[test]
    fn ack_log_counts_conflicts() {
        let mut log = AckLog::new();
        log.record(1, fp(1));
        log.record(1, fp(1)); // the same ack again: fine
        log.record(1, fp(9)); // another post with the same seq: conflict
        log.record(4, fp(4));
        assert_eq!(log.len(), 2);
        assert_eq!(log.conflicts(), 1);
        assert_eq!(log.max_seq(), 4);
        assert!(!log.is_empty());
    }

    #[test]
    fn tallies_add_up() {
        let mut total = Tally::default();
        let one = Tally {
            expected: 2,
            delivered: 2,
            lost: 1,
            duplicated: 1,
            out_of_order: 1,
            mismatched: 1,
            resets: 1,
        };
        total.add(one);
        total.add(one);
        assert_eq!(total.expected, 4);
        assert_eq!(total.mismatched, 2);
        assert!(!total.is_clean());
        assert!(Tally::default().is_clean());
    }
}
