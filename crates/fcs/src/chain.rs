//! Guards for files holding several datasets chained by `$NEXTDATA`.
//!
//! Every dataset of a chain has its own HEADER, TEXT and DATA. A hostile file can instead
//! aim many HEADERs at one shared TEXT: 4,096 datasets each re-reading and copying one
//! 1 MB TEXT would make a 1.3 MB file cost gigabytes. Two rules keep the cost of opening a
//! file proportional to its size:
//!
//! * **No shared bytes** ([`Chain::claim`]): a dataset's HEADER, TEXT and DATA may not
//!   overlap a segment of an earlier dataset. All offsets are unsigned and relative to the
//!   dataset's own start, so a chain can only move forward; a `$NEXTDATA` that points back
//!   into an earlier dataset, or that would visit one again (a loop), lands on bytes that
//!   dataset claimed, and is refused by the same rule.
//! * **A TEXT budget** ([`Chain::spend_text`]): every TEXT segment parsed, primary or
//!   supplemental, in every dataset, is charged to one budget of twice the file size,
//!   *before* it is parsed. Supplemental TEXT is not a claimed segment (vendors place it
//!   anywhere, sometimes over the primary TEXT itself), so without the budget each
//!   dataset could still re-read one shared region. Twice the file size admits every file
//!   whose segments do not overlap (their TEXT adds up to less than the file) plus one
//!   full re-read, and since parsed keywords take memory proportional to the bytes parsed,
//!   it bounds the keywords held by all datasets to O(file size).

use crate::error::{FcsError, Num, Result};

/// TEXT bytes that may be parsed per byte of file (see the module documentation).
const TEXT_BUDGET_FACTOR: u64 = 2;

/// An inclusive byte range of the file used by one dataset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// 0-based index of the dataset that uses it.
    pub dataset: usize,
    /// `HEADER`, `TEXT` or `DATA`.
    pub what: &'static str,
    /// First byte (absolute).
    pub begin: u64,
    /// Last byte (absolute, inclusive).
    pub end: u64,
}

impl Segment {
    fn overlaps(&self, other: &Segment) -> bool {
        self.begin <= other.end && other.begin <= self.end
    }
}

/// What the datasets read so far have used: their segments and the TEXT budget.
#[derive(Debug)]
pub(crate) struct Chain {
    claimed: Vec<Segment>,
    text_read: u64,
    text_limit: u64,
}

impl Chain {
    /// A chain over a file of `file_len` bytes, with nothing read yet.
    pub(crate) fn new(file_len: usize) -> Chain {
        Chain {
            claimed: Vec::new(),
            text_read: 0,
            text_limit: (file_len as u64).saturating_mul(TEXT_BUDGET_FACTOR),
        }
    }

    /// Records `seg`; refuses it when it overlaps a segment of an *earlier* dataset (a
    /// dataset's own segments may overlap each other: offset repair sorts those out).
    pub(crate) fn claim(&mut self, seg: Segment) -> Result<()> {
        let clash = self
            .claimed
            .iter()
            .find(|c| c.dataset < seg.dataset && c.overlaps(&seg));
        if let Some(c) = clash {
            return Err(FcsError::SharedSegment {
                segment: seg.what,
                begin: Num(seg.begin),
                end: Num(seg.end),
                other_segment: c.what,
                other_index: c.dataset,
                other_begin: Num(c.begin),
                other_end: Num(c.end),
            });
        }
        self.claimed.push(seg);
        Ok(())
    }

    /// Charges the TEXT bytes `begin..=end` (absolute, `end >= begin`) about to be parsed;
    /// refuses them when they would exceed the budget.
    pub(crate) fn spend_text(&mut self, what: &'static str, begin: u64, end: u64) -> Result<()> {
        let len = end.saturating_sub(begin).saturating_add(1);
        let total = self.text_read.saturating_add(len);
        if total > self.text_limit {
            return Err(FcsError::TextBudget {
                segment: what,
                begin: Num(begin),
                end: Num(end),
                total: Num(total),
                limit: Num(self.text_limit),
            });
        }
        self.text_read = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(dataset: usize, begin: u64, end: u64) -> Segment {
        Segment {
            dataset,
            what: "TEXT",
            begin,
            end,
        }
    }

    #[test]
    fn overlap_only_matters_between_datasets() {
        let mut c = Chain::new(1000);
        c.claim(seg(0, 0, 57)).unwrap();
        c.claim(seg(0, 50, 100)).unwrap(); // same dataset: allowed
        c.claim(seg(1, 101, 158)).unwrap();
        let e = c.claim(seg(2, 158, 200)).unwrap_err().to_string();
        assert!(
            e.contains("overlaps the TEXT of dataset 1 (bytes 101..=158)"),
            "{e}"
        );
        c.claim(seg(2, u64::MAX - 1, u64::MAX)).unwrap();
    }

    #[test]
    fn text_budget_is_twice_the_file() {
        let mut c = Chain::new(100);
        c.spend_text("TEXT", 0, 149).unwrap();
        c.spend_text("TEXT", 0, 49).unwrap();
        let e = c.spend_text("TEXT", 10, 10).unwrap_err().to_string();
        assert!(e.contains("to 201 bytes; at most 200"), "{e}");
        assert!(c.spend_text("TEXT", 0, u64::MAX).is_err());
    }
}
