//! Property tests: write → read round trips, and arbitrary or mutated bytes never panic.
//! They run in debug builds, so an offset computation that overflows panics here.

mod common;

use common::{std_pairs, Craft};
use proptest::prelude::*;
use tessera_fcs::{stats, write_fcs31, Display, FcsFile, WriteParameter};

/// Exercises everything a caller might do with a parsed file; must never panic.
fn poke(bytes: &[u8]) {
    if let Ok(file) = FcsFile::from_bytes(bytes) {
        for ds in file.datasets() {
            let _ = ds.spillover();
            let _ = ds.keywords().iter().count();
            assert!(ds.data_range().end <= bytes.len());
            if let Ok(cols) = ds.columns_raw() {
                assert_eq!(cols.len(), ds.parameters().len());
                let _ = stats::all_channel_stats(&cols, &[1.0, 50.0, 99.0]);
            }
            let _ = ds.columns_scaled();
            let _ = ds.columns_raw_range(1..3);
        }
    }
}

fn name() -> impl Strategy<Value = String> {
    // Includes the delimiter and other awkward characters.
    "[A-Za-z0-9 /|\\\\_:.,-]{1,12}".prop_filter("not blank", |s| !s.trim().is_empty())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f32>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(f64::from),
        (-1e6f64..1e6).prop_map(|x| x as f32 as f64),
        Just(0.0),
        Just(-0.0),
    ]
}

fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    (1usize..5, 0usize..20).prop_flat_map(|(p, n)| {
        prop::collection::vec(prop::collection::vec(value(), n), p).prop_map(move |cols| {
            let params: Vec<WriteParameter> = (0..p)
                .map(|i| WriteParameter::new(format!("P{i}"), 1024.0))
                .collect();
            let mut buf = Vec::new();
            write_fcs31(&mut buf, &params, &cols, &[("K", "v")]).unwrap();
            buf
        })
    })
}

/// Numbers at the edges of `u64` and of the HEADER's 8 digits, plus random ones.
fn extreme_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(u64::MAX / 2 + 1),
        Just(99_999_999),
        Just(0),
        Just(1),
        0u64..100_000,
        any::<u64>(),
    ]
    .prop_map(|v| v.to_string())
}

/// A small dataset: 2 events × 2 parameters, 16-bit integers or delimited ASCII.
fn small_dataset(ascii: bool) -> Craft {
    let (dt, bits, data) = if ascii {
        ("A", "*", b"1 2 3 4 ".to_vec())
    } else {
        ("I", "16", vec![7; 8])
    };
    let mut c = Craft::new(&[], data);
    c.pairs = std_pairs(dt, "1,2", "2", 2, bits, "1024");
    c
}

/// Three datasets chained by `$NEXTDATA`; dataset `index` gets `key` = `val` (`key`
/// `$BEGINDATA+$ENDDATA` sets both) and, with `no_tot`, loses `$TOT`.
fn chain_with(ascii: bool, no_tot: bool, index: usize, key: &'static str, val: String) -> Vec<u8> {
    let mut parts: Vec<Craft> = (0..3).map(|_| small_dataset(ascii)).collect();
    for c in parts.iter_mut() {
        c.set("$NEXTDATA", "0000000000");
    }
    if no_tot {
        parts[index].pairs.retain(|(k, _)| k != "$TOT");
    }
    let lens: Vec<usize> = parts.iter().map(|c| c.build().len()).collect();
    for (c, len) in parts.iter_mut().zip(&lens).take(2) {
        c.set("$NEXTDATA", &format!("{len:010}"));
    }
    match key {
        "$BEGINDATA" => {
            parts[index].text_data = Some(Box::new(move |_, e| (val.clone(), e.to_string())))
        }
        "$ENDDATA" => {
            parts[index].text_data = Some(Box::new(move |b, _| (b.to_string(), val.clone())))
        }
        "$BEGINDATA+$ENDDATA" => {
            parts[index].text_data = Some(Box::new(move |_, _| (val.clone(), val.clone())))
        }
        _ => parts[index].set(key, &val),
    }
    parts.iter().flat_map(Craft::build).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn extreme_numbers_in_a_chain_never_panic(
        key in prop::sample::select(vec![
            "$TOT", "$PAR", "$P1B", "$BEGINDATA", "$ENDDATA", "$BEGINDATA+$ENDDATA", "$NEXTDATA",
            "$BEGINSTEXT", "$ENDSTEXT",
        ]),
        val in extreme_number(),
        ascii in any::<bool>(),
        no_tot in any::<bool>(),
        index in 0usize..3,
    ) {
        poke(&chain_with(ascii, no_tot, index, key, val));
    }

    #[test]
    fn write_read_round_trip(
        p in 1usize..7,
        n in 0usize..300,
        names in prop::collection::vec(name(), 7),
        labels in prop::collection::vec(prop::option::of(name()), 7),
        seed_vals in prop::collection::vec(value(), 1..64),
        extra_val in "[ -~]{0,20}",
        log in any::<bool>(),
    ) {
        let params: Vec<WriteParameter> = (0..p)
            .map(|i| WriteParameter {
                name: names[i].clone(),
                label: labels[i].clone(),
                range: 262144.0,
                display: Some(if log && i % 2 == 1 { Display::Log } else { Display::Lin }),
            })
            .collect();
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|j| (0..n).map(|e| seed_vals[(e * 7 + j * 3) % seed_vals.len()]).collect())
            .collect();
        let mut buf = Vec::new();
        write_fcs31(&mut buf, &params, &cols, &[("TESSERA_NOTE", extra_val.as_str())]).unwrap();
        let file = FcsFile::from_bytes(&buf).unwrap();
        prop_assert_eq!(file.datasets().len(), 1);
        let ds = file.first();
        prop_assert_eq!(ds.version(), "FCS3.1");
        prop_assert_eq!(ds.event_count(), n);
        prop_assert!(ds.repairs().is_empty(), "{:?}", ds.repairs());
        for (got, want) in ds.parameters().iter().zip(&params) {
            prop_assert_eq!(&got.pnn, want.name.trim());
            prop_assert_eq!(got.pns.as_deref(), want.label.as_deref().map(str::trim));
            prop_assert_eq!(got.range, 262144.0);
            prop_assert_eq!(Some(got.display), want.display);
        }
        let expected_note = if extra_val.is_empty() { " " } else { extra_val.as_str() };
        prop_assert_eq!(ds.keyword("tessera_note"), Some(expected_note));
        let back = ds.columns_raw().unwrap();
        for (g, w) in back.data.iter().zip(&cols) {
            prop_assert_eq!(g.len(), w.len());
            for (a, b) in g.iter().zip(w) {
                prop_assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        poke(&bytes);
    }

    #[test]
    fn fcs_like_garbage_never_panics(
        header in "FCS[23]\\.[0-2]    [ 0-9]{48}",
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = header.into_bytes();
        bytes.extend_from_slice(&body);
        poke(&bytes);
    }

    #[test]
    fn mutated_files_never_panic(
        file in valid_file(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = file;
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len() + 1));
        }
        poke(&bytes);
    }

    #[test]
    fn mutated_text_numbers_never_panic(
        file in valid_file(),
        key in prop::sample::select(vec!["$TOT", "$PAR", "$P1B", "$P1R", "$BEGINDATA", "$ENDDATA", "$NEXTDATA", "$BYTEORD", "$DATATYPE"]),
        val in prop_oneof![
            Just("0".to_string()), Just("-1".to_string()), Just("99999999999999999999".to_string()),
            Just("18446744073709551615".to_string()), Just("18446744073709551614".to_string()), Just("1e308".to_string()), Just("NaN".to_string()),
            Just("*".to_string()), Just("I".to_string()), Just("D".to_string()), Just("A".to_string()),
            Just("4,3,2,1".to_string()), "[0-9]{1,12}",
        ],
    ) {
        // Rewrite one keyword's value inside TEXT (lengths may change: offsets then disagree).
        let text_end = std::str::from_utf8(&file[18..26]).unwrap().trim().parse::<usize>().unwrap();
        let text = String::from_utf8_lossy(&file[58..=text_end]).into_owned();
        let needle = format!("/{key}/");
        if let Some(pos) = text.find(&needle) {
            let vstart = pos + needle.len();
            let vend = vstart + text[vstart..].find('/').unwrap();
            let mut new_text = text[..vstart].to_string();
            new_text.push_str(&val);
            new_text.push_str(&text[vend..]);
            let mut bytes = file[..58].to_vec();
            bytes.extend_from_slice(new_text.as_bytes());
            bytes.extend_from_slice(&file[text_end + 1..]);
            poke(&bytes);
        }
    }
}
