//! Limits that keep hostile files cheap: name lengths, `$NEXTDATA` chains that re-use
//! bytes, the TEXT budget, and offsets at the edge of `u64` (the tests run in debug
//! builds, where an overflowing `+` or `*` panics).

mod common;

use std::time::{Duration, Instant};

use common::{chain, std_pairs, Craft};
use tessera_fcs::{write_fcs31, FcsFile, WriteParameter};

const U64_MAX: &str = "18446744073709551615";

fn err_of(bytes: &[u8]) -> String {
    match FcsFile::from_bytes(bytes) {
        Ok(f) => panic!("expected an error, got {} dataset(s)", f.datasets().len()),
        Err(e) => e.to_string(),
    }
}

/// One dataset of `par` 16-bit integer parameters holding `tot` events of zeros.
fn int16(tot: usize, par: usize) -> Craft {
    let pairs = std_pairs("I", "1,2", &tot.to_string(), par, "16", "1024");
    let mut c = Craft::new(&[], vec![0; tot * par * 2]);
    c.pairs = pairs;
    c
}

// ---- 1. name lengths -------------------------------------------------------------------

#[test]
fn pnn_longer_than_256_bytes_is_refused() {
    let mut c = int16(1, 3);
    c.set("$P3N", &"A".repeat(200_000));
    assert_eq!(
        err_of(&c.build()),
        "$P3N is 200000 bytes long; at most 256 are allowed"
    );
}

#[test]
fn pns_longer_than_256_bytes_is_refused() {
    let mut c = int16(1, 2);
    c.set("$P2S", &"é".repeat(129)); // 258 bytes of UTF-8
    assert_eq!(
        err_of(&c.build()),
        "$P2S is 258 bytes long; at most 256 are allowed"
    );
}

#[test]
fn names_of_256_bytes_are_accepted_and_blanks_do_not_count() {
    let mut c = int16(1, 1);
    c.set("$P1N", &format!("  {}  ", "N".repeat(256)));
    c.set("$P1S", &"S".repeat(256));
    let f = FcsFile::from_bytes(&c.build()).unwrap();
    let p = &f.first().parameters()[0];
    assert_eq!(
        (p.pnn.len(), p.pns.as_deref().map(str::len)),
        (256, Some(256))
    );
}

#[test]
fn rejected_values_are_quoted_briefly() {
    let mut c = int16(1, 1);
    c.set("$P1R", &"x".repeat(100_000));
    let e = err_of(&c.build());
    // (Failure messages show only the start: the point is that the error is short.)
    let start: String = e.chars().take(100).collect();
    assert!(
        e.starts_with("keyword $P1R has an invalid value \"xxx"),
        "{start}"
    );
    assert!(e.len() < 200, "{} bytes: {start}", e.len());
}

#[test]
fn writer_refuses_names_the_reader_would_refuse() {
    let none: [(&str, &str); 0] = [];
    let long = WriteParameter::new("A".repeat(300), 1024.0);
    let e = write_fcs31(Vec::new(), &[long], &[vec![1.0]], &none)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "$P1N is 300 bytes long; at most 256 are allowed");
    let mut labelled = WriteParameter::new("A", 1024.0);
    labelled.label = Some("L".repeat(257));
    let e = write_fcs31(Vec::new(), &[labelled], &[vec![1.0]], &none)
        .unwrap_err()
        .to_string();
    assert!(e.contains("$P1S is 257 bytes long"), "{e}");
}

// ---- 2. $NEXTDATA chains ---------------------------------------------------------------

/// `k` HEADERs at bytes 0, 58, 116, … all aimed at one TEXT of about `text_len` bytes
/// after them, whose `$NEXTDATA` (58) leads each HEADER to the next.
fn shared_text_file(k: usize, text_len: usize) -> Vec<u8> {
    let mut text = String::from(
        "/$DATATYPE/I/$BYTEORD/1,2/$MODE/L/$TOT/0/$PAR/1/$P1N/A/$P1B/16/$P1R/1024/$NEXTDATA/58/PAD/",
    );
    let pad = text_len.saturating_sub(text.len() + 1);
    text.push_str(&"x".repeat(pad));
    text.push('/');
    let t = 58 * k;
    let mut out = Vec::with_capacity(t + text.len());
    for i in 0..k {
        let (tb, te) = (t - 58 * i, t + text.len() - 1 - 58 * i);
        let h = format!("FCS3.1    {tb:>8}{te:>8}{:>8}{:>8}{:>8}{:>8}", 0, 0, 0, 0);
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out
}

#[test]
fn datasets_sharing_one_text_are_refused_quickly() {
    let bytes = shared_text_file(4000, 1_000_000);
    assert!(bytes.len() < 1_300_000);
    let start = Instant::now();
    let e = err_of(&bytes);
    // Before the rule, this file asked for 4,000 copies of its 1 MB TEXT (gigabytes).
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        e,
        "dataset 1 (starting at byte 58): TEXT (bytes 232,000..=1,231,999) overlaps the TEXT \
         of dataset 0 (bytes 232,000..=1,231,999); datasets chained by $NEXTDATA may not share bytes"
    );
}

#[test]
fn next_data_pointing_into_an_earlier_dataset_is_refused() {
    // Dataset 0's DATA happens to hold a whole dataset, and $NEXTDATA points at it.
    let inner = int16(1, 1).build();
    let mut outer = Craft::new(&[], inner.clone());
    outer.pairs = std_pairs("I", "1", &inner.len().to_string(), 1, "8", "256");
    outer.set("$NEXTDATA", "0000000000");
    let begin: usize = String::from_utf8_lossy(&outer.build()[26..34])
        .trim()
        .parse()
        .unwrap();
    outer.set("$NEXTDATA", &format!("{begin:010}"));
    let e = err_of(&outer.build());
    let end = begin + inner.len() - 1;
    assert_eq!(
        e,
        format!(
            "dataset 1 (starting at byte {begin}): HEADER (bytes {begin}..={}) overlaps the DATA \
             of dataset 0 (bytes {begin}..={end}); datasets chained by $NEXTDATA may not share bytes",
            begin + 57
        )
    );
}

#[test]
fn datasets_sharing_a_supplemental_text_exhaust_the_text_budget() {
    // k small datasets, each with its own HEADER and TEXT, all reading one large
    // supplemental TEXT at the end of the file (not a claimed segment: vendors put it
    // anywhere), so only the TEXT budget stops the re-reading.
    let (k, region_len) = (10usize, 100_000usize);
    let mut parts: Vec<Craft> = (0..k).map(|_| int16(0, 1)).collect();
    for c in &mut parts {
        c.set("$BEGINSTEXT", "0000000000");
        c.set("$ENDSTEXT", "0000000000");
    }
    let ds_len = chain(&mut parts[..1]).len(); // every part has the same length
    let region_at = k * ds_len;
    for (i, c) in parts.iter_mut().enumerate() {
        let base = i * ds_len;
        c.set("$BEGINSTEXT", &format!("{:010}", region_at - base));
        c.set(
            "$ENDSTEXT",
            &format!("{:010}", region_at + region_len - 1 - base),
        );
    }
    let mut bytes = chain(&mut parts);
    assert_eq!(bytes.len(), region_at);
    let mut region = String::from("/");
    let mut n = 0;
    while region.len() < region_len - 16 {
        region.push_str(&format!("K{n}/v/"));
        n += 1;
    }
    region.push_str(&" ".repeat(region_len - region.len()));
    bytes.extend_from_slice(region.as_bytes());
    let file_len = bytes.len();

    // Datasets 0 and 1 each read their TEXT and the region; dataset 2's region is too much.
    let n = |x: usize| tessera_fcs::error::Num(x as u64);
    let total = 3 * (ds_len - 58) + 3 * region_len;
    assert!(total > 2 * file_len && total - region_len <= 2 * file_len);
    assert_eq!(
        err_of(&bytes),
        format!(
            "dataset 2 (starting at byte {}): supplemental TEXT at bytes {}..={} would bring the \
             TEXT read across all datasets to {} bytes; at most {} (twice the file size) are allowed",
            n(2 * ds_len),
            n(region_at),
            n(file_len - 1),
            n(total),
            n(2 * file_len),
        )
    );
}

#[test]
fn an_honest_chain_of_many_datasets_reads() {
    let mut parts: Vec<Craft> = (0..200).map(|i| int16(i % 3, 2)).collect();
    let bytes = chain(&mut parts);
    let f = FcsFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.datasets().len(), 200);
    assert_eq!(f.datasets()[199].event_count(), 199 % 3);
}

// ---- 3. offsets at the edge of u64 -----------------------------------------------------

#[test]
fn enddata_at_u64_max_with_a_wrong_length_is_an_error() {
    let mut c = int16(5, 1); // 10 DATA bytes
    c.set("$TOT", "3");
    c.text_data = Some(Box::new(|bd, _| (bd.to_string(), U64_MAX.into())));
    let e = err_of(&c.build());
    assert!(
        e.starts_with(
            "DATA offsets do not match the event count: $TOT 3 × 2 bytes per event = 6 bytes"
        ),
        "{e}"
    );
    assert!(e.contains(&format!("..={U64_MAX} (")), "{e}");
}

/// A two-dataset file whose second dataset (so that offsets are added to a non-zero base)
/// has `$BEGINDATA`/`$ENDDATA` `(b, e)` and the given keyword changes.
fn second_with(b: &'static str, e: &'static str, edits: &[(&str, &str)]) -> Vec<u8> {
    let mut second = int16(2, 2);
    for (k, v) in edits {
        second.set(k, v);
    }
    second.pairs.retain(|(_, v)| v != "-");
    second.text_data = Some(Box::new(move |_, _| (b.into(), e.into())));
    chain(&mut [int16(1, 1), second])
}

#[test]
fn extreme_data_offsets_in_a_later_dataset_never_panic() {
    let values = [
        U64_MAX,
        "18446744073709551614",
        "9223372036854775808",
        "99999999",
        "1",
        "0",
    ];
    let kinds: [&[(&str, &str)]; 4] = [
        &[],
        &[("$TOT", "-")],
        &[("$DATATYPE", "A"), ("$P1B", "*"), ("$P2B", "*")],
        &[("$TOT", U64_MAX)],
    ];
    for b in values {
        for e in values {
            for edits in kinds {
                let bytes = second_with(b, e, edits);
                // Any outcome but a panic; whatever parses must decode inside the file.
                if let Ok(f) = FcsFile::from_bytes(&bytes) {
                    for ds in f.datasets() {
                        assert!(ds.data_range().end <= bytes.len());
                        let _ = ds.columns_raw();
                    }
                }
            }
        }
    }
}

#[test]
fn u64_max_text_data_offsets_fall_back_to_the_header() {
    // Delimited ASCII and a missing $TOT take the first candidate inside the file; TEXT
    // offsets near 2^64 are not inside it, whatever the dataset's start.
    let bytes = second_with(U64_MAX, U64_MAX, &[("$TOT", "-")]);
    let f = FcsFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.datasets()[1].event_count(), 2);
    let bytes = second_with(
        U64_MAX,
        U64_MAX,
        &[("$DATATYPE", "A"), ("$P1B", "*"), ("$P2B", "*")],
    );
    let f = FcsFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.datasets()[1].event_count(), 2);
}

#[test]
fn next_data_at_u64_max_is_ignored_with_a_note() {
    let mut first = int16(1, 1);
    first.set("$NEXTDATA", "0000000000");
    let len = first.build().len();
    first.set("$NEXTDATA", &format!("{len:010}"));
    let mut second = int16(1, 1);
    second.set("$NEXTDATA", U64_MAX); // added to a non-zero dataset start
    let mut bytes = first.build();
    bytes.extend_from_slice(&second.build());
    let f = FcsFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.datasets().len(), 2);
    let r = f.datasets()[1].repairs();
    assert!(
        r.iter()
            .any(|r| r.contains("past the end of the file; ignored")),
        "{r:?}"
    );
}

#[test]
fn huge_tot_times_par_is_an_error() {
    // Binary: $TOT × bytes per event overflows u64.
    let mut c = int16(1, 3);
    c.set("$TOT", U64_MAX);
    let e = err_of(&c.build());
    assert_eq!(
        e,
        format!(
            "keyword $TOT has an invalid value \"{U64_MAX}\": {U64_MAX} events × 6 bytes overflows"
        )
    );
    // Delimited ASCII: $TOT × $PAR values cannot fit.
    let mut c = int16(1, 3);
    c.data = b"1 2 3\n".to_vec();
    for (k, v) in [
        ("$DATATYPE", "A"),
        ("$P1B", "*"),
        ("$P2B", "*"),
        ("$P3B", "*"),
    ] {
        c.set(k, v);
    }
    c.set("$TOT", U64_MAX);
    let e = err_of(&c.build());
    assert_eq!(
        e,
        "DATA offsets do not match the event count: $TOT 18,446,744,073,709,551,615 events × 3 \
         ASCII values cannot fit in 6 DATA bytes"
    );
}
