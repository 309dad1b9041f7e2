//! Hand-crafted files: hostile input must give clear errors (never a panic or a huge
//! allocation), and every storage variant must decode correctly.

mod common;

use common::{std_pairs, Craft};
use tessera_fcs::{stats, DataType, Display, FcsFile};

fn craft(pairs: Vec<(String, String)>, data: Vec<u8>) -> Craft {
    Craft {
        version: "FCS3.1",
        pairs,
        data,
        header_data: None,
        text_offsets: true,
        text_data: None,
    }
}

fn err_of(bytes: &[u8]) -> String {
    match FcsFile::from_bytes(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn set(pairs: &mut [(String, String)], key: &str, value: &str) {
    for (k, v) in pairs.iter_mut() {
        if k == key {
            *v = value.into();
        }
    }
}

#[test]
fn huge_tot_in_tiny_file_is_an_error_not_an_allocation() {
    let pairs = std_pairs("F", "1,2,3,4", "1099511627776", 2, "32", "1024");
    let bytes = craft(pairs, vec![0u8; 16]).build();
    assert!(bytes.len() < 1024);
    let e = err_of(&bytes);
    assert!(e.contains("of 1,099,511,627,776 events present"), "{e}");
    assert!(e.contains("the file has 262 bytes: 2 of"), "{e}");
}

#[test]
fn tot_times_width_overflow() {
    let pairs = std_pairs("D", "1,2,3,4", "18446744073709551615", 3, "64", "1024");
    let e = err_of(&craft(pairs, vec![0u8; 8]).build());
    assert!(e.contains("overflows"), "{e}");
}

#[test]
fn data_offsets_past_end() {
    let pairs = std_pairs("I", "1,2,3,4", "4", 1, "16", "1024");
    let mut c = craft(pairs, vec![1, 0, 2, 0, 3, 0, 4, 0]);
    let mut bytes = c.build();
    bytes.truncate(bytes.len() - 3); // lose the last 1.5 events
    let e = err_of(&bytes);
    assert!(e.starts_with("DATA segment ends at byte"), "{e}");
    assert!(e.contains("2 of 4 events present"), "{e}");
    // HEADER and TEXT both pointing far beyond the file
    c.text_offsets = false;
    c.header_data = Some(("90000000".into(), "90000007".into()));
    let e = err_of(&c.build());
    assert!(e.contains("0 of 4 events present"), "{e}");
}

#[test]
fn zero_pnb_par_zero_and_huge_par() {
    let pairs = std_pairs("I", "1,2,3,4", "1", 2, "0", "1024");
    let e = err_of(&craft(pairs, vec![0; 4]).build());
    assert!(e.contains("$P1B") && e.contains("0 bits"), "{e}");

    let mut pairs = std_pairs("I", "1,2,3,4", "1", 1, "16", "1024");
    set(&mut pairs, "$PAR", "0");
    let e = err_of(&craft(pairs.clone(), vec![0; 2]).build());
    assert!(e.contains("$PAR") && e.contains("at least one"), "{e}");

    set(&mut pairs, "$PAR", "4000000000");
    let e = err_of(&craft(pairs.clone(), vec![0; 2]).build());
    assert!(e.contains("claims 4000000000 parameters"), "{e}");

    set(&mut pairs, "$PAR", "-3");
    let e = err_of(&craft(pairs, vec![0; 2]).build());
    assert!(e.contains("$PAR"), "{e}");
}

#[test]
fn bad_widths_types_and_orders() {
    let pairs = std_pairs("I", "1,2,3,4", "1", 1, "12", "1024");
    let e = err_of(&craft(pairs, vec![0; 2]).build());
    assert!(e.contains("multiple of 8"), "{e}");
    let pairs = std_pairs("I", "1,2,3,4", "1", 1, "72", "1024");
    assert!(err_of(&craft(pairs, vec![0; 9]).build()).contains("at most 64"));
    let pairs = std_pairs("Q", "1,2,3,4", "1", 1, "16", "1024");
    assert!(err_of(&craft(pairs, vec![0; 2]).build()).contains("$DATATYPE"));
    let pairs = std_pairs("I", "1,1,2,3", "1", 1, "16", "1024");
    assert!(err_of(&craft(pairs, vec![0; 2]).build()).contains("$BYTEORD"));
    let mut pairs = std_pairs("I", "1,2", "1", 1, "16", "1024");
    set(&mut pairs, "$MODE", "C");
    assert!(err_of(&craft(pairs, vec![0; 2]).build()).contains("list mode"));
    let mut pairs = std_pairs("I", "1,2", "1", 1, "16", "1024");
    pairs.retain(|(k, _)| k != "$P1N");
    assert!(err_of(&craft(pairs, vec![0; 2]).build()).contains("$P1N"));
}

#[test]
fn header_and_text_damage() {
    assert!(err_of(b"").contains("too short"));
    assert!(err_of(&[b' '; 100]).contains("not an FCS file"));
    let mut good = craft(std_pairs("I", "1,2", "1", 1, "16", "1024"), vec![1, 0]).build();
    good[3..6].copy_from_slice(b"9.9");
    assert!(err_of(&good).contains("unsupported FCS version"));
    let mut good = craft(std_pairs("I", "1,2", "1", 1, "16", "1024"), vec![1, 0]).build();
    good[18..26].copy_from_slice(b"99999999");
    let e = err_of(&good);
    assert!(e.contains("TEXT segment ends at byte 99,999,999"), "{e}");
    good[18..26].copy_from_slice(b"   12x45");
    assert!(err_of(&good).contains("TEXT end"));
    good[18..26].copy_from_slice(b"      10");
    assert!(err_of(&good).contains("TEXT segment offsets"));
}

#[test]
fn mismatched_length_inside_file_is_an_error() {
    let pairs = std_pairs("I", "1,2,3,4", "3", 1, "16", "1024");
    let mut c = craft(pairs, vec![0; 10]); // 5 events present, 3 declared, segment 10 bytes
    c.data.extend_from_slice(&[0; 4]);
    let e = err_of(&c.build());
    assert!(e.contains("$TOT 3 × 2 bytes per event = 6 bytes"), "{e}");
}

#[test]
fn blank_and_99999999_header_offsets_use_text() {
    let pairs = std_pairs("I", "4,3,2,1", "2", 1, "16", "1024");
    let mut c = craft(pairs, vec![0, 5, 0, 7]);
    c.header_data = Some(("        ".into(), "        ".into()));
    let f = FcsFile::from_bytes(&c.build()).unwrap();
    assert_eq!(f.first().columns_raw().unwrap().data, vec![vec![5.0, 7.0]]);
    c.header_data = Some(("99999999".into(), "99999999".into()));
    let f = FcsFile::from_bytes(&c.build()).unwrap();
    assert_eq!(f.first().columns_raw().unwrap().data, vec![vec![5.0, 7.0]]);
}

#[test]
fn integer_widths_masks_and_byte_orders() {
    // 24-bit big endian, range 1000 → mask 1023
    let pairs = std_pairs("I", "4,3,2,1", "2", 1, "24", "1000");
    let f = FcsFile::from_bytes(&craft(pairs, vec![0xFF, 0x01, 0x02, 0, 0, 9]).build()).unwrap();
    assert_eq!(
        f.first().columns_raw().unwrap().data,
        vec![vec![0x102 as f64, 9.0]]
    );
    // 64-bit little endian, huge range: no masking beyond width
    let pairs = std_pairs("I", "1,2,3,4,5,6,7,8", "1", 1, "64", "1e30");
    let v: u64 = (1 << 52) + 3;
    let f = FcsFile::from_bytes(&craft(pairs, v.to_le_bytes().to_vec()).build()).unwrap();
    assert_eq!(f.first().columns_raw().unwrap().data, vec![vec![v as f64]]);
    // legacy 3,4,1,2 permutation on 32 bits
    let pairs = std_pairs("I", "3,4,1,2", "1", 1, "32", "4294967296");
    let x: u32 = 0x1122_3344;
    let b = x.to_le_bytes();
    let f = FcsFile::from_bytes(&craft(pairs, vec![b[2], b[3], b[0], b[1]]).build()).unwrap();
    assert_eq!(f.first().columns_raw().unwrap().data, vec![vec![x as f64]]);
    // "1,2" byte order on 32-bit values means little endian
    let pairs = std_pairs("I", "1,2", "1", 1, "32", "4294967296");
    let f = FcsFile::from_bytes(&craft(pairs, 77u32.to_le_bytes().to_vec()).build()).unwrap();
    assert_eq!(f.first().columns_raw().unwrap().data, vec![vec![77.0]]);
}

#[test]
fn mixed_widths_in_one_event() {
    let mut pairs = std_pairs("I", "1,2,3,4", "2", 3, "16", "65536");
    set(&mut pairs, "$P2B", "32");
    set(&mut pairs, "$P3B", "8");
    set(&mut pairs, "$P3R", "255");
    let mut data = Vec::new();
    for (a, b, c) in [(1u16, 70000u32, 3u8), (65535, 5, 255)] {
        data.extend_from_slice(&a.to_le_bytes());
        data.extend_from_slice(&b.to_le_bytes());
        data.push(c);
    }
    let f = FcsFile::from_bytes(&craft(pairs, data).build()).unwrap();
    let c = f.first().columns_raw().unwrap();
    assert_eq!(
        c.data,
        vec![
            vec![1.0, 65535.0],
            vec![70000.0 % 65536.0, 5.0],
            vec![3.0, 255.0]
        ]
    );
}

#[test]
fn fcs32_per_parameter_types_and_double() {
    let mut pairs = std_pairs("I", "1,2,3,4", "1", 3, "16", "1024");
    pairs.push(("$P2DATATYPE".into(), "F".into()));
    pairs.push(("$P3DATATYPE".into(), "D".into()));
    set(&mut pairs, "$P2B", "32");
    set(&mut pairs, "$P3B", "64");
    let mut data = 5u16.to_le_bytes().to_vec();
    data.extend_from_slice(&2.5f32.to_le_bytes());
    data.extend_from_slice(&(-1e300f64).to_le_bytes());
    let mut c = craft(pairs, data);
    c.version = "FCS3.2";
    let f = FcsFile::from_bytes(&c.build()).unwrap();
    let d = f.first();
    let types: Vec<DataType> = d.parameters().iter().map(|p| p.data_type).collect();
    assert_eq!(types, [DataType::Int, DataType::Float, DataType::Double]);
    assert_eq!(
        d.columns_raw().unwrap().data,
        vec![vec![5.0], vec![2.5], vec![-1e300]]
    );
}

#[test]
fn ascii_fixed_and_delimited() {
    let pairs = std_pairs("A", "1,2,3,4", "2", 2, "4", "10000");
    let f = FcsFile::from_bytes(&craft(pairs, b"  12 345   7  88".to_vec()).build()).unwrap();
    assert_eq!(
        f.first().columns_raw().unwrap().data,
        vec![vec![12.0, 7.0], vec![345.0, 88.0]]
    );
    let pairs = std_pairs("A", "1,2,3,4", "2", 2, "*", "10000");
    let f = FcsFile::from_bytes(&craft(pairs, b"1,2\r\n3.5,4\r\n".to_vec()).build()).unwrap();
    assert_eq!(
        f.first().columns_raw().unwrap().data,
        vec![vec![1.0, 3.5], vec![2.0, 4.0]]
    );
    let pairs = std_pairs("A", "1,2,3,4", "2", 2, "4", "10000");
    let f = FcsFile::from_bytes(&craft(pairs, b"  12 x45   7  88".to_vec()).build()).unwrap();
    let e = f.first().columns_raw().unwrap_err().to_string();
    assert!(e.contains("event 1, parameter 2"), "{e}");
}

#[test]
fn scaled_values() {
    let mut pairs = std_pairs("I", "1,2", "2", 3, "16", "1024");
    set(&mut pairs, "$P1E", "4,0"); // log: 10^(4·x/1024)
    set(&mut pairs, "$P3N", "Time");
    pairs.push(("$P2G".into(), "4".into()));
    pairs.push(("$TIMESTEP".into(), "0.5".into()));
    let mut data = Vec::new();
    for v in [0u16, 40, 10, 512, 8, 6] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    let f = FcsFile::from_bytes(&craft(pairs, data).build()).unwrap();
    let d = f.first();
    assert_eq!(d.parameters()[0].pne, Some((4.0, 0.0)));
    let raw = d.columns_raw().unwrap();
    assert_eq!(raw.data[0], vec![0.0, 512.0]);
    let s = d.columns_scaled().unwrap();
    assert_eq!(s.data[0][0], 1.0);
    assert!((s.data[0][1] - 100.0).abs() < 1e-9);
    assert_eq!(s.data[1], vec![10.0, 2.0]);
    assert_eq!(s.data[2], vec![5.0, 3.0]);
}

#[test]
fn next_data_chain_and_bad_pointers() {
    let a = craft(std_pairs("I", "1,2", "1", 1, "16", "1024"), vec![1, 0]).build();
    let b = craft(std_pairs("I", "1,2", "1", 1, "16", "1024"), vec![2, 0]).build();
    // point the first dataset at the second
    let mut pairs = std_pairs("I", "1,2", "1", 1, "16", "1024");
    set(&mut pairs, "$NEXTDATA", "00000000");
    let probe = craft(pairs.clone(), vec![1, 0]).build().len();
    set(&mut pairs, "$NEXTDATA", &format!("{probe:08}"));
    let mut file = craft(pairs.clone(), vec![1, 0]).build();
    assert_eq!(file.len(), probe);
    file.extend_from_slice(&b);
    let f = FcsFile::from_bytes(&file).unwrap();
    assert_eq!(f.datasets().len(), 2);
    assert_eq!(f.datasets()[1].columns_raw().unwrap().data, vec![vec![2.0]]);
    // pointer past the end: ignored with a note
    set(&mut pairs, "$NEXTDATA", "99999999");
    let f = FcsFile::from_bytes(&craft(pairs.clone(), vec![1, 0]).build()).unwrap();
    assert_eq!(f.datasets().len(), 1);
    assert!(f.first().repairs().iter().any(|r| r.contains("$NEXTDATA")));
    // a broken second dataset is reported with its index
    let mut broken = b.clone();
    broken.truncate(broken.len() - 1);
    let mut file = a[..0].to_vec();
    set(&mut pairs, "$NEXTDATA", &format!("{probe:08}"));
    file.extend_from_slice(&craft(pairs, vec![1, 0]).build());
    file.extend_from_slice(&broken);
    let e = err_of(&file);
    assert!(e.starts_with("dataset 1 (starting at byte"), "{e}");
}

#[test]
fn duplicate_keywords_and_display_rules() {
    let mut pairs = std_pairs("F", "1,2,3,4", "1", 3, "32", "1024");
    set(&mut pairs, "$P1N", "FSC-A");
    set(&mut pairs, "$P2N", "FL1-A");
    pairs.push(("$P3D".into(), "Logarithmic,4,0.1".into()));
    pairs.push(("$P1S".into(), "first".into()));
    pairs.push(("$P1S".into(), "second".into()));
    let f = FcsFile::from_bytes(&craft(pairs, vec![0; 12]).build()).unwrap();
    let d = f.first();
    let disp: Vec<Display> = d.parameters().iter().map(|p| p.display).collect();
    assert_eq!(disp, [Display::Lin, Display::Log, Display::Log]);
    assert_eq!(d.parameters()[0].pns.as_deref(), Some("second"));
    assert_eq!(d.parameters()[1].pns, None);
    assert!(d.repairs().iter().any(|r| r.contains("duplicate")));
}

#[test]
fn stats_on_decoded_columns() {
    let pairs = std_pairs("I", "1,2", "4", 1, "16", "1024");
    let mut data = Vec::new();
    for v in [4u16, 1, 3, 2] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    let f = FcsFile::from_bytes(&craft(pairs, data).build()).unwrap();
    let cols = f.first().columns_raw().unwrap();
    let s = &stats::all_channel_stats(&cols, &[50.0])[0];
    assert_eq!(
        (s.count, s.min, s.max, s.mean, s.median),
        (4, 1.0, 4.0, 2.5, 2.5)
    );
    assert!((s.std - 1.25f64.sqrt()).abs() < 1e-15);
    assert!((s.cv - 1.25f64.sqrt() / 2.5).abs() < 1e-15);
}

#[test]
fn open_reports_path_errors() {
    let e = FcsFile::open("/definitely/not/here.fcs")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/definitely/not/here.fcs"), "{e}");
}
