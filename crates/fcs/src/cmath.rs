//! Functions taken from the platform's C math library rather than Rust's `std`.
//!
//! numpy computes `arcsinh` with the C library's `asinh`; Rust's `f64::asinh` is its own formula
//! (`ln_1p` of a rearranged sum), a few units in the last place apart. A transformed value that
//! differs by one ulp can fall on the other side of a bin edge or a gate boundary, so a histogram
//! would no longer count exactly what FlowKit counts. `std` already links the C math library
//! (its `ln`, `log10`, `powf` and `sinh` call it), so this adds no dependency.

#[allow(unsafe_code)]
mod ffi {
    extern "C" {
        pub fn asinh(x: f64) -> f64;
    }
}

/// The inverse hyperbolic sine, as the C library (and therefore numpy) computes it.
#[inline]
pub fn asinh(x: f64) -> f64 {
    // SAFETY: `asinh` is a pure function of one double, defined for every input (NaN and ±∞
    // included), with no side effects besides possibly setting `errno`.
    #[allow(unsafe_code)]
    unsafe {
        ffi::asinh(x)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn agrees_with_std_within_a_few_ulps_and_keeps_the_edges() {
        for x in [
            -1e300, -3.5, -1e-300, 0.0, 1e-9, 0.5, 1.0, 150.0, 262_144.0, 1e300,
        ] {
            let (ours, std) = (super::asinh(x), x.asinh());
            assert!((ours - std).abs() <= 4.0 * f64::EPSILON * std.abs(), "{x}");
        }
        assert!(super::asinh(f64::NAN).is_nan());
        assert_eq!(super::asinh(f64::INFINITY), f64::INFINITY);
        assert_eq!(super::asinh(-0.0).to_bits(), (-0.0f64).to_bits());
    }
}
