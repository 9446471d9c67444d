//! A canonical, type-tagged byte encoding of any `serde::Serialize` value, for cache keys: equal
//! values give equal bytes in every process, whatever the iteration order of their collections.
//!
//! Every map (`HashMap`, `BTreeMap`, `IndexMap`, a flattened struct, ...) is written with its
//! entries sorted by their encoded bytes, as map equality ignores order. Sequences keep their order,
//! except unordered sets (`HashSet`, `hashbrown`'s and `im`'s `HashSet`, `IndexSet`, `BTreeSet`),
//! recognised by the type `serde` hands to [`serde::Serializer::collect_seq`], whose elements are
//! sorted by their encoded bytes. Numbers are tagged by kind (signed, unsigned, float), floats by
//! their IEEE bits (every NaN as one NaN). Strings, bytes, sequences and maps are length-prefixed,
//! so no two values share an encoding.

use std::fmt;

use serde::ser::{self, Serialize};

/// Why a value could not be encoded (a `Serialize` impl reported an error).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// The canonical encoding of `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut c = Canonical { out: Vec::new() };
    value.serialize(&mut c)?;
    Ok(c.out)
}

/// Whether a collection type (as given to `collect_seq`) is an unordered set.
fn is_unordered_set<I: ?Sized>() -> bool {
    let name = std::any::type_name::<I>();
    let outer = name.trim_start_matches('&').trim_start_matches("mut ");
    let outer = outer.split('<').next().unwrap_or(outer);
    let last = outer.rsplit("::").next().unwrap_or(outer);
    matches!(last, "HashSet" | "IndexSet" | "BTreeSet" | "OrdSet")
}

struct Canonical {
    out: Vec<u8>,
}

impl Canonical {
    fn len(&mut self, n: usize) {
        self.out.extend_from_slice(&(n as u64).to_le_bytes());
    }

    fn bytes(&mut self, tag: u8, b: &[u8]) {
        self.out.push(tag);
        self.len(b.len());
        self.out.extend_from_slice(b);
    }

    fn name(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Reserves a count, to be patched by [`Canonical::patch`].
    fn reserve(&mut self, tag: u8) -> usize {
        self.out.push(tag);
        let at = self.out.len();
        self.len(0);
        at
    }

    fn patch(&mut self, at: usize, n: usize) {
        self.out[at..at + 8].copy_from_slice(&(n as u64).to_le_bytes());
    }

    /// Writes `items` (each already encoded) sorted, with a count.
    fn sorted(&mut self, tag: u8, mut items: Vec<Vec<u8>>) {
        items.sort_unstable();
        self.out.push(tag);
        self.len(items.len());
        for item in items {
            self.len(item.len());
            self.out.extend_from_slice(&item);
        }
    }

    fn variant(&mut self, index: u32, variant: &str) {
        self.out.push(b'v');
        self.out.extend_from_slice(&index.to_le_bytes());
        self.name(variant);
    }
}

/// A sequence being written in order (`at`: where its count goes).
struct Seq<'a> {
    c: &'a mut Canonical,
    at: usize,
    n: usize,
}

/// A map being written: entries collected, then sorted.
struct Map<'a> {
    c: &'a mut Canonical,
    entries: Vec<Vec<u8>>,
    key: Option<Vec<u8>>,
}

impl<'a> ser::Serializer for &'a mut Canonical {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Seq<'a>;
    type SerializeStructVariant = Seq<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(&[b'b', v as u8]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i128(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i128(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i128(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.serialize_i128(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.out.push(b'i');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u128(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u128(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u128(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.serialize_u128(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.out.push(b'u');
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        let bits = if v.is_nan() { f32::NAN } else { v }.to_bits();
        self.out.push(b'g');
        self.out.extend_from_slice(&bits.to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        let bits = if v.is_nan() { f64::NAN } else { v }.to_bits();
        self.out.push(b'f');
        self.out.extend_from_slice(&bits.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.out.push(b'c');
        self.out.extend_from_slice(&(v as u32).to_le_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.bytes(b's', v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.bytes(b'y', v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(b'N');
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.out.push(b'S');
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push(b'U');
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.variant(index, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(index, variant);
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a>, Error> {
        let at = self.reserve(b'l');
        Ok(Seq { c: self, at, n: 0 })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Seq<'a>, Error> {
        let at = self.reserve(b't');
        Ok(Seq { c: self, at, n: 0 })
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'a>, Error> {
        self.variant(index, variant);
        self.serialize_tuple(len)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a>, Error> {
        Ok(Map {
            c: self,
            entries: Vec::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Seq<'a>, Error> {
        let at = self.reserve(b'r');
        Ok(Seq { c: self, at, n: 0 })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'a>, Error> {
        self.variant(index, variant);
        self.serialize_struct("", len)
    }

    fn collect_seq<I>(self, iter: I) -> Result<(), Error>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if is_unordered_set::<I>() {
            let items = iter
                .into_iter()
                .map(|item| encode(&item))
                .collect::<Result<Vec<_>, _>>()?;
            self.sorted(b'e', items);
            return Ok(());
        }
        let mut seq = ser::Serializer::serialize_seq(self, None)?;
        for item in iter {
            ser::SerializeSeq::serialize_element(&mut seq, &item)?;
        }
        ser::SerializeSeq::end(seq)
    }
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.n += 1;
        value.serialize(&mut *self.c)
    }
    fn finish(self) -> Result<(), Error> {
        self.c.patch(self.at, self.n);
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.c.name(key);
        self.element(value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
        // A skipped field is marked, so that skipping it and writing it never collide.
        self.c.name(key);
        self.c.out.push(b'-');
        self.n += 1;
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), Error> {
        ser::SerializeStruct::skip_field(self, key)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(encode(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let mut entry = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        // The key's length first, so that (key, value) pairs cannot run into each other.
        let mut pair = (entry.len() as u64).to_le_bytes().to_vec();
        pair.append(&mut entry);
        pair.extend_from_slice(&encode(value)?);
        self.entries.push(pair);
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.c.sorted(b'm', self.entries);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

    #[test]
    fn maps_and_sets_do_not_depend_on_insertion_order() {
        let a: HashMap<String, i32> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        let b: HashMap<String, i32> = (0..50).rev().map(|i| (format!("k{i}"), i)).collect();
        assert_eq!(encode(&a).unwrap(), encode(&b).unwrap());
        let bt: BTreeMap<String, i32> = a.clone().into_iter().collect();
        assert_eq!(encode(&a).unwrap(), encode(&bt).unwrap());
        let s: HashSet<i64> = (0..100).collect();
        let t: HashSet<i64> = (0..100).rev().collect();
        assert_eq!(encode(&s).unwrap(), encode(&t).unwrap());
        let bs: BTreeSet<i64> = (0..100).collect();
        assert_eq!(encode(&s).unwrap(), encode(&bs).unwrap());
    }

    #[test]
    fn sequences_keep_their_order_and_values_differ() {
        assert_ne!(encode(&vec![1, 2]).unwrap(), encode(&vec![2, 1]).unwrap());
        assert_ne!(encode(&1i64).unwrap(), encode(&1u64).unwrap());
        assert_ne!(encode(&1i64).unwrap(), encode(&1.0f64).unwrap());
        assert_ne!(encode("ab").unwrap(), encode(&("a", "b")).unwrap());
        assert_ne!(encode(&Some(1)).unwrap(), encode(&1).unwrap());
        assert_eq!(encode(&f64::NAN).unwrap(), encode(&-f64::NAN).unwrap());
        let a: HashSet<Vec<i32>> = [vec![1, 2], vec![3]].into_iter().collect();
        let b: HashSet<Vec<i32>> = [vec![1], vec![2, 3]].into_iter().collect();
        assert_ne!(encode(&a).unwrap(), encode(&b).unwrap());
    }

    #[test]
    fn only_the_outer_type_decides_whether_a_sequence_is_a_set() {
        assert!(is_unordered_set::<&HashSet<i32>>());
        assert!(!is_unordered_set::<&Vec<HashSet<i32>>>());
        assert!(!is_unordered_set::<&[i32]>());
    }
}
