//! The Check answer written straight into the response buffer.
//!
//! An allow is encoded from the decision as it stands — its header names and
//! values, the rule, the verified claims — without first building a
//! `CheckResponse` whose every string would be a fresh copy: a cache hit's
//! answer costs no allocation. [`super::wire::to_check_response`] builds the
//! same answer as prost messages; it is the reference the tests hold this
//! encoding to (decoded, the two are equal), and what `explain` prints.
//! A deny is rarer and varied: it is built and encoded by prost.
//!
//! Field numbers: envoy.service.auth.v3 `CheckResponse` (status 1,
//! ok_response 3, dynamic_metadata 4) and `OkHttpResponse` (headers 2,
//! headers_to_remove 5, query_parameters_to_remove 8); envoy.config.core.v3
//! `HeaderValueOption` (header 1, append 2) and `HeaderValue` (key 1, value
//! 2); google.protobuf `Struct` (fields 1: map entries of key 1, value 2),
//! `Value` (null 1, number 2, string 3, bool 4, struct 5, list 6),
//! `ListValue` (values 1) and `BoolValue` (value 1).

use prost::bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use serde_json::Value;

use super::wire::to_check_response;
use crate::authz::{Allow, Claims, Decision};

/// A protobuf message, written in two passes: its length, then its bytes.
trait Part {
    fn len(&self) -> usize;
    fn write(&self, buf: &mut impl BufMut);
}

/// Writes `decision`'s `CheckResponse` into `buf`.
pub fn write_answer(decision: &Decision, buf: &mut impl BufMut) {
    match decision {
        Decision::Allow(allow) => AllowAnswer(allow).write(buf),
        // Encoding into a `BufMut` cannot fail: it grows as needed.
        Decision::Deny(_) => to_check_response(decision).encode_raw(buf),
    }
}

/// Bytes of a length-delimited field `tag` whose body is `body` bytes.
fn field_len(tag: u32, body: usize) -> usize {
    key_len(tag) + encoded_len_varint(body as u64) + body
}

fn put_field(tag: u32, part: &impl Part, buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(part.len() as u64, buf);
    part.write(buf);
}

/// A string field's bytes.
struct Text<'a>(&'a str);

impl Part for Text<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(self.0.as_bytes());
    }
}

/// A message with no field set (`Status` with code 0, `BoolValue` false).
struct Empty;

impl Part for Empty {
    fn len(&self) -> usize {
        0
    }
    fn write(&self, _buf: &mut impl BufMut) {}
}

struct AllowAnswer<'a>(&'a Allow);

impl Part for AllowAnswer<'_> {
    fn len(&self) -> usize {
        let ok = OkResponse(self.0);
        let metadata = Metadata(self.0);
        field_len(1, 0) + field_len(3, ok.len()) + field_len(4, metadata.len())
    }
    fn write(&self, buf: &mut impl BufMut) {
        put_field(1, &Empty, buf);
        put_field(3, &OkResponse(self.0), buf);
        put_field(4, &Metadata(self.0), buf);
    }
}

/// `OkHttpResponse`: headers to set (never appended), headers and query
/// parameters to remove.
struct OkResponse<'a>(&'a Allow);

impl Part for OkResponse<'_> {
    fn len(&self) -> usize {
        let allow = self.0;
        let set = allow.set_headers.iter().map(|(name, value)| field_len(2, HeaderOption(name, value).len()));
        let removed = allow.remove_headers.iter().map(|name| field_len(5, name.len()));
        let query = allow.remove_query_params.iter().map(|name| field_len(8, name.len()));
        set.chain(removed).chain(query).sum()
    }
    fn write(&self, buf: &mut impl BufMut) {
        let allow = self.0;
        for (name, value) in allow.set_headers.iter() {
            put_field(2, &HeaderOption(name, value), buf);
        }
        for name in &allow.remove_headers {
            put_field(5, &Text(name), buf);
        }
        for name in &allow.remove_query_params {
            put_field(8, &Text(name), buf);
        }
    }
}

/// `HeaderValueOption { header: { key, value }, append: false }`.
struct HeaderOption<'a>(&'a str, &'a str);

impl Part for HeaderOption<'_> {
    fn len(&self) -> usize {
        field_len(1, HeaderValue(self.0, self.1).len()) + field_len(2, 0)
    }
    fn write(&self, buf: &mut impl BufMut) {
        put_field(1, &HeaderValue(self.0, self.1), buf);
        put_field(2, &Empty, buf);
    }
}

struct HeaderValue<'a>(&'a str, &'a str);

impl Part for HeaderValue<'_> {
    fn len(&self) -> usize {
        field_len(1, self.0.len()) + field_len(2, self.1.len())
    }
    fn write(&self, buf: &mut impl BufMut) {
        put_field(1, &Text(self.0), buf);
        put_field(2, &Text(self.1), buf);
    }
}

/// One `google.protobuf.Value`.
#[derive(Clone, Copy)]
enum ValuePart<'a> {
    Text(&'a str),
    Json(&'a Value),
    Claims(&'a Claims),
}

impl Part for ValuePart<'_> {
    fn len(&self) -> usize {
        match *self {
            ValuePart::Text(text) => field_len(3, text.len()),
            ValuePart::Json(Value::Null) => key_len(1) + 1,
            ValuePart::Json(Value::Bool(_)) => key_len(4) + 1,
            ValuePart::Json(Value::Number(_)) => key_len(2) + 8,
            ValuePart::Json(Value::String(text)) => field_len(3, text.len()),
            ValuePart::Json(Value::Array(items)) => field_len(6, List(items).len()),
            ValuePart::Json(Value::Object(map)) => {
                field_len(5, entries_len(map.iter().map(|(k, v)| (k.as_str(), ValuePart::Json(v)))))
            }
            ValuePart::Claims(claims) => {
                field_len(5, entries_len(claims.iter().map(|(k, v)| (k, ValuePart::Json(v)))))
            }
        }
    }
    fn write(&self, buf: &mut impl BufMut) {
        match *self {
            ValuePart::Text(text) => put_field(3, &Text(text), buf),
            ValuePart::Json(Value::Null) => {
                encode_key(1, WireType::Varint, buf);
                encode_varint(0, buf);
            }
            ValuePart::Json(Value::Bool(value)) => {
                encode_key(4, WireType::Varint, buf);
                encode_varint(u64::from(*value), buf);
            }
            ValuePart::Json(Value::Number(number)) => {
                encode_key(2, WireType::SixtyFourBit, buf);
                buf.put_f64_le(number.as_f64().unwrap_or(0.0));
            }
            ValuePart::Json(Value::String(text)) => put_field(3, &Text(text), buf),
            ValuePart::Json(Value::Array(items)) => put_field(6, &List(items), buf),
            ValuePart::Json(Value::Object(map)) => {
                put_field(5, &Entries(|| map.iter().map(|(k, v)| (k.as_str(), ValuePart::Json(v)))), buf)
            }
            ValuePart::Claims(claims) => {
                put_field(5, &Entries(|| claims.iter().map(|(k, v)| (k, ValuePart::Json(v)))), buf)
            }
        }
    }
}

/// `ListValue`.
struct List<'a>(&'a [Value]);

impl Part for List<'_> {
    fn len(&self) -> usize {
        self.0.iter().map(|item| field_len(1, ValuePart::Json(item).len())).sum()
    }
    fn write(&self, buf: &mut impl BufMut) {
        for item in self.0 {
            put_field(1, &ValuePart::Json(item), buf);
        }
    }
}

/// A `Struct`'s map entries, from a function that lists them (called once
/// per pass).
struct Entries<F>(F);

fn entries_len<'a>(entries: impl Iterator<Item = (&'a str, ValuePart<'a>)>) -> usize {
    entries.map(|(key, value)| field_len(1, Entry(key, value).len())).sum()
}

impl<'a, F, I> Part for Entries<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (&'a str, ValuePart<'a>)>,
{
    fn len(&self) -> usize {
        entries_len((self.0)())
    }
    fn write(&self, buf: &mut impl BufMut) {
        for (key, value) in (self.0)() {
            put_field(1, &Entry(key, value), buf);
        }
    }
}

/// One map entry: `{ key: 1, value: 2 }`.
struct Entry<'a>(&'a str, ValuePart<'a>);

impl Part for Entry<'_> {
    fn len(&self) -> usize {
        field_len(1, self.0.len()) + field_len(2, self.1.len())
    }
    fn write(&self, buf: &mut impl BufMut) {
        put_field(1, &Text(self.0), buf);
        put_field(2, &self.1, buf);
    }
}

/// The allow's dynamic metadata, in the order `to_check_response` inserts
/// it (a repeated key: the later entry wins, as there).
struct Metadata<'a>(&'a Allow);

impl<'a> Metadata<'a> {
    fn entries(&self) -> impl Iterator<Item = (&'a str, ValuePart<'a>)> {
        let allow = self.0;
        let fixed = [("decision", ValuePart::Text("allow")), ("rule", ValuePart::Text(&allow.rule))];
        let provider = allow.provider.as_deref().map(|name| ("provider", ValuePart::Text(name)));
        let token = allow.token.as_deref();
        let named = token.into_iter().flat_map(move |token| {
            let paths = allow.metadata.claims.iter();
            paths
                .filter_map(move |(key, path)| path.find(&token.claims).map(|v| (&**key, ValuePart::Json(v))))
        });
        let all =
            token.filter(|_| allow.metadata.all_claims).map(|t| ("claims", ValuePart::Claims(&t.claims)));
        fixed.into_iter().chain(provider).chain(named).chain(all)
    }
}

impl Part for Metadata<'_> {
    fn len(&self) -> usize {
        entries_len(self.entries())
    }
    fn write(&self, buf: &mut impl BufMut) {
        Entries(|| self.entries()).write(buf);
    }
}

#[cfg(test)]
mod tests;
