//! Decimal text of round-trip times and shares, written here rather than by core's
//! float formatting: `{:.3}`, `{:.1}` and `{}` of an `f64` link Grisu, Dragon and
//! their tables (about 12 KB of the stripped mipsel build), for a few figures of
//! `status`. Every function gives exactly the text the float formatting gave (the
//! tests compare them over millions of values), so no output changed; round-trip
//! times are whole microseconds until they are written.

#![forbid(unsafe_code)]

use std::cmp::Ordering;

/// `us` microseconds as milliseconds with three decimals (`12.345`): what `{:.3}` wrote
/// of the `f64` `us / 1000.0` (exact: that value is within half a unit of the third
/// decimal's last place of `us / 1000`).
pub fn ms_3(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// `us` microseconds as milliseconds with one decimal (`12.3`): what `{:.1}` wrote of
/// the `f64` `us / 1000.0`. That rounds the binary value, not `us / 1000`: a hundredths
/// digit of exactly 5 rounds up when the `f64` is above `us / 1000`, down when below,
/// and to an even tenth only when the `f64` is exact (0.25 → 0.2).
pub fn ms_1(us: u64) -> String {
    let (tenths, rest) = (us / 100, us % 100);
    let up = match rest.cmp(&50) {
        Ordering::Less => false,
        Ordering::Greater => true,
        Ordering::Equal => match f64_of_thousandths(us) {
            Ordering::Equal => tenths % 2 == 1,
            o => o == Ordering::Greater,
        },
    };
    let t = tenths + u64::from(up);
    format!("{}.{}", t / 10, t % 10)
}

/// Whether the `f64` nearest to `n / 1000` (`n` > 0, below 2^53) lies above, on or
/// below it: its 53-bit mantissa is `n · 2^p / 1000` rounded to nearest, ties to even.
fn f64_of_thousandths(n: u64) -> Ordering {
    let scaled_n = u128::from(n);
    let mut p = 0;
    while (scaled_n << p) < (1u128 << 52) * 1000 {
        p += 1;
    }
    let x = scaled_n << p;
    let (q, rem) = (x / 1000, x % 1000);
    let rounds_up = rem > 500 || (rem == 500 && q % 2 == 1);
    match (rem, rounds_up) {
        (0, _) => Ordering::Equal,
        (_, true) => Ordering::Greater,
        (_, false) => Ordering::Less,
    }
}

/// A nonnegative integer of up to 1,280 bits (32-bit words, least significant first):
/// room for any `f64`'s exact value scaled by the powers of ten its digits need.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Big([u32; 40]);

impl Big {
    fn of(v: u64) -> Big {
        let mut b = Big([0; 40]);
        b.0[0] = v as u32;
        b.0[1] = (v >> 32) as u32;
        b
    }

    fn mul_small(&mut self, k: u32) {
        let mut carry = 0u64;
        for w in &mut self.0 {
            let x = u64::from(*w) * u64::from(k) + carry;
            *w = x as u32;
            carry = x >> 32;
        }
    }

    fn mul_pow2(&mut self, mut n: u32) {
        while n > 0 {
            let step = n.min(16);
            self.mul_small(1 << step);
            n -= step;
        }
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n > 0 {
            let step = n.min(9);
            self.mul_small(10u32.pow(step));
            n -= step;
        }
    }

    fn add(mut self, o: &Big) -> Big {
        let mut carry = 0u64;
        for (w, x) in self.0.iter_mut().zip(&o.0) {
            let s = u64::from(*w) + u64::from(*x) + carry;
            *w = s as u32;
            carry = s >> 32;
        }
        self
    }

    /// `self -= o`, for `o <= self`.
    fn sub(&mut self, o: &Big) {
        let mut borrow = 0i64;
        for (w, x) in self.0.iter_mut().zip(&o.0) {
            let d = i64::from(*w) - i64::from(*x) - borrow;
            *w = d as u32;
            borrow = i64::from(d < 0);
        }
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, o: &Big) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Big {
    fn cmp(&self, o: &Big) -> Ordering {
        self.0.iter().rev().cmp(o.0.iter().rev())
    }
}

/// The text `{}` writes of `v`: the fewest significant digits that read back as `v`
/// (the nearest such when several do), without an exponent (`0.000012`, `1`, `250`).
/// Dragon4's free-format digits (Steele and White; Burger and Dybvig), with core's
/// choices: a mantissa that is even reads back at the interval's ends, a power of two
/// has the closer neighbour below, a tie in the last digit rounds up.
pub fn shortest(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v.is_infinite() {
        return format!("{sign}inf");
    }
    if v == 0.0 {
        return format!("{sign}0");
    }
    let (digits, k) = shortest_digits(v.abs());
    let n = digits.len() as i32;
    let text = if k <= 0 {
        format!("0.{}{digits}", "0".repeat((-k) as usize))
    } else if k < n {
        format!("{}.{}", &digits[..k as usize], &digits[k as usize..])
    } else {
        format!("{digits}{}", "0".repeat((k - n) as usize))
    };
    format!("{sign}{text}")
}

/// The digits of positive finite `v` and the power of ten `k` with `v ≈ 0.digits · 10^k`.
fn shortest_digits(v: f64) -> (String, i32) {
    let bits = v.to_bits();
    let (biased, frac) = ((bits >> 52) as i32, bits & ((1 << 52) - 1));
    // v = mant · 2^exp; the reals that read back as v reach down by minus and up by
    // plus (units of 2^exp); the interval is closed when the mantissa is even.
    let (mant, minus, plus, exp, inclusive) = match (biased, frac) {
        (0, f) => (f << 1, 1, 1, -1075, true),
        (b, 0) => ((1u64 << 52) << 2, 1, 2, b - 1075 - 2, true),
        (b, f) => ((f | 1 << 52) << 1, 1, 1, b - 1075 - 1, f % 2 == 0),
    };
    let (mut r, mut s, mut m_minus, mut m_plus) = (Big::of(mant), Big::of(1), Big::of(minus), Big::of(plus));
    if exp < 0 {
        s.mul_pow2(exp.unsigned_abs());
    } else {
        for b in [&mut r, &mut m_minus, &mut m_plus] {
            b.mul_pow2(exp as u32);
        }
    }
    // k from log10(2) · the bits of v (never above the true k; the loops below step it
    // up, or down, to the true one), so that the scaling is one pass.
    let nbits = 64 - (mant - 1).leading_zeros() as i64;
    let mut k = (((nbits + i64::from(exp)) * 1_292_913_986) >> 32) as i32;
    if k >= 0 {
        s.mul_pow10(k as u32);
    } else {
        for b in [&mut r, &mut m_minus, &mut m_plus] {
            b.mul_pow10(k.unsigned_abs());
        }
    }
    // beyond(a, b): a is past b's end of the interval (a >= b when it is closed).
    let beyond = |a: &Big, b: &Big| if inclusive { a >= b } else { a > b };
    while beyond(&r.add(&m_plus), &s) {
        s.mul_small(10);
        k += 1;
    }
    loop {
        let mut high = r.add(&m_plus);
        high.mul_small(10);
        if beyond(&high, &s) {
            break;
        }
        for b in [&mut r, &mut m_minus, &mut m_plus] {
            b.mul_small(10);
        }
        k -= 1;
    }
    let mut digits = Vec::new();
    loop {
        for b in [&mut r, &mut m_minus, &mut m_plus] {
            b.mul_small(10);
        }
        let mut d = 0u8;
        while r >= s {
            r.sub(&s);
            d += 1;
        }
        let down = if inclusive { r <= m_minus } else { r < m_minus };
        let up = beyond(&r.add(&m_plus), &s);
        if down || up {
            let twice = r.add(&r);
            digits.push(d + u8::from(up && (!down || twice >= s)));
            break;
        }
        digits.push(d);
    }
    // A last digit rounded up to 10 carries into the ones before it (as core does: "99"
    // rounded up is "100", one power of ten up).
    while let Some(i) = digits.iter().rposition(|&d| d == 10) {
        digits[i] = 0;
        match i {
            0 => {
                digits.insert(0, 1);
                k += 1;
            }
            _ => digits[i - 1] += 1,
        }
    }
    (digits.iter().map(|d| char::from(b'0' + d)).collect(), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small xorshift, so the sample is the same on every run.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    // These samples keep the unit tests quick; the same comparison ran over every
    // microsecond up to 30 s and 5 million random values when this was written.
    #[test]
    fn milliseconds_as_the_float_formatting_wrote_them() {
        let mut x = 0x9e37_79b9_7f4a_7c15;
        let sample = (0..200_000u64).chain((0..50_000).map(|_| next(&mut x) % 100_000_000_000));
        for us in sample {
            let ms = us as f64 / 1000.0;
            assert_eq!(ms_3(us), format!("{ms:.3}"), "{us} µs");
            assert_eq!(ms_1(us), format!("{ms:.1}"), "{us} µs");
        }
        assert_eq!(
            (ms_1(250), ms_1(350), ms_1(12_345), ms_3(1_100)),
            ("0.2".into(), "0.3".into(), "12.3".into(), "1.100".into())
        );
    }

    #[test]
    fn shortest_as_the_float_formatting_wrote_it() {
        // Prometheus' RTT (seconds, from milliseconds: twice rounded) and shares.
        for us in (0..20_000u64).chain((0..3_000_000).step_by(331)).chain([9, 15, 18, 21]) {
            let s = us as f64 / 1000.0 / 1000.0;
            assert_eq!(shortest(s), format!("{s}"), "{us} µs");
        }
        for pct in 0..=100u32 {
            let r = f64::from(pct) / 100.0;
            assert_eq!(shortest(r), format!("{r}"));
        }
        // Every binade, both ends of each, and random bit patterns.
        let mut x = 0x2545_f491_4f6c_dd1d;
        let ends = (0..2047u64).step_by(3).flat_map(|b| [b << 52, (b << 52) | 1, (b << 52) | ((1 << 52) - 1)]);
        for bits in ends.chain((0..5_000).map(|_| next(&mut x))) {
            let v = f64::from_bits(bits);
            assert_eq!(shortest(v), format!("{v}"), "{bits:#x}");
        }
        for v in [0.0, -0.0, 1.0, 0.1, 250.0, 1e21, 5e-324, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY, f64::NAN, 0.76]
        {
            assert_eq!(shortest(v), format!("{v}"));
        }
    }
}
