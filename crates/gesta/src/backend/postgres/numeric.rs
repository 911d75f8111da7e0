//! PostgreSQL's binary `NUMERIC`: base-10000 digits with a weight, sign and scale.

use bytes::{BufMut, BytesMut};

use crate::sql::{SqlError, ValueRef};

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PLUS_INFINITY: u16 = 0xD000;
const MINUS_INFINITY: u16 = 0xF000;

/// Encodes a decimal string `[+-]digits[.digits]` (checked by the caller).
pub(super) fn encode(decimal: &str, out: &mut BytesMut) {
    let (negative, unsigned) = match decimal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, decimal.strip_prefix('+').unwrap_or(decimal)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int = int.trim_start_matches('0');
    let lead = (4 - int.len() % 4) % 4;
    let trail = (4 - frac.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(b'0', lead)
        .chain(int.bytes())
        .chain(frac.bytes())
        .chain(std::iter::repeat_n(b'0', trail))
        .collect();
    let mut digits: Vec<i16> = padded
        .chunks(4)
        .map(|c| {
            c.iter()
                .fold(0_i16, |acc, d| acc * 10 + i16::from(d - b'0'))
        })
        .collect();
    let mut weight = ((lead + int.len()) / 4) as i16 - 1;
    let leading_zeros = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading_zeros);
    weight -= leading_zeros as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let sign = if negative && !digits.is_empty() {
        NEGATIVE
    } else {
        POSITIVE
    };
    if digits.is_empty() {
        weight = 0;
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(frac.len() as u16);
    for d in digits {
        out.put_i16(d);
    }
}

/// An integer when the value is whole and fits `i64` (as SQLite's NUMERIC affinity
/// stores it), a real otherwise.
pub(super) fn decode(raw: &[u8]) -> Result<ValueRef<'static>, SqlError> {
    let bad = || SqlError::decode("malformed NUMERIC");
    let word = |i: usize| -> Result<u16, SqlError> {
        let b = raw.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = word(0)? as usize;
    let weight = word(1)? as i16;
    let sign = word(2)?;
    let digits = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<Vec<u16>, _>>()?;
    match sign {
        NAN => return Ok(ValueRef::Real(f64::NAN)),
        PLUS_INFINITY => return Ok(ValueRef::Real(f64::INFINITY)),
        MINUS_INFINITY => return Ok(ValueRef::Real(f64::NEG_INFINITY)),
        POSITIVE | NEGATIVE => {}
        _ => return Err(bad()),
    }
    let negative = sign == NEGATIVE;
    let whole = i32::from(weight) + 1 >= ndigits as i32;
    if whole {
        if let Some(i) = whole_value(&digits, weight, negative) {
            return Ok(ValueRef::Integer(i));
        }
    }
    let mut text = String::with_capacity(8 + ndigits * 4);
    if negative {
        text.push('-');
    }
    text.push_str("0.");
    for d in &digits {
        text.push_str(&format!("{d:04}"));
    }
    text.push_str(&format!("e{}", (i32::from(weight) + 1) * 4));
    text.parse::<f64>().map(ValueRef::Real).map_err(|_| bad())
}

fn whole_value(digits: &[u16], weight: i16, negative: bool) -> Option<i64> {
    let mut acc: i128 = 0;
    for i in 0..=i32::from(weight).max(-1) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        acc = acc.checked_mul(10_000)?.checked_add(i128::from(d))?;
        if acc > i128::from(u64::MAX) {
            return None;
        }
    }
    i64::try_from(if negative { -acc } else { acc }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(decimal: &str) -> ValueRef<'static> {
        let mut out = BytesMut::new();
        encode(decimal, &mut out);
        decode(&out).unwrap()
    }

    #[test]
    fn integers_come_back_as_integers() {
        for i in [
            0_i64,
            1,
            -1,
            9999,
            10_000,
            123_456_789,
            i64::MAX,
            i64::MIN + 1,
        ] {
            assert_eq!(round_trip(&i.to_string()), ValueRef::Integer(i), "{i}");
        }
        assert_eq!(round_trip("5.000"), ValueRef::Integer(5));
        assert_eq!(round_trip("-0.0"), ValueRef::Integer(0));
    }

    #[test]
    fn fractions_come_back_as_reals() {
        for r in [0.5, -0.25, 1234.5678, 0.0001, 1e-9, 12345678901234.5] {
            assert_eq!(round_trip(&r.to_string()), ValueRef::Real(r), "{r}");
        }
        assert_eq!(
            round_trip("99999999999999999999"),
            ValueRef::Real(1e20),
            "too big for i64"
        );
    }

    #[test]
    fn encoding_matches_postgres() {
        let mut out = BytesMut::new();
        encode("-12345.6", &mut out);
        // ndigits 3, weight 1, negative, dscale 1: 1 2345 6000
        assert_eq!(
            &out[..],
            [0, 3, 0, 1, 0x40, 0, 0, 1, 0, 1, 0x09, 0x29, 0x17, 0x70]
        );
    }
}
