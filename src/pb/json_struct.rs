//! `google.protobuf.Struct` as userd carries it: the JSON object itself. JSON clients get back
//! exactly what they sent (an integer stays an integer, however large); the binary form is
//! converted at the edge, where protobuf's numbers are doubles and whole numbers print the way
//! protojson prints them (`1`, not `1.0`).
#![warn(clippy::all)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use pbjson_types::value::Kind;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost::DecodeError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// A JSON object in the place of a `google.protobuf.Struct`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonStruct(pub Map<String, Value>);

/// The largest integer a double holds exactly.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

impl JsonStruct {
    /// The object as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// An object from JSON text (an empty object if it is not one).
    pub fn from_json(text: &str) -> JsonStruct {
        JsonStruct(serde_json::from_str(text).unwrap_or_default())
    }

    fn to_proto(&self) -> pbjson_types::Struct {
        pbjson_types::Struct {
            fields: self
                .0
                .iter()
                .map(|(k, v)| (k.clone(), value_to_proto(v)))
                .collect(),
        }
    }
}

fn value_to_proto(value: &Value) -> pbjson_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(pbjson_types::ListValue {
            values: items.iter().map(value_to_proto).collect(),
        }),
        Value::Object(map) => Kind::StructValue(JsonStruct(map.clone()).to_proto()),
    };
    pbjson_types::Value { kind: Some(kind) }
}

fn value_from_proto(value: pbjson_types::Value) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() <= EXACT_INTEGER => {
            // Whole and exact: printed as an integer, as protojson does.
            Value::Number(Number::from(n as i64))
        }
        Some(Kind::NumberValue(n)) => Number::from_f64(n).map_or(Value::Null, Value::Number),
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(value_from_proto).collect())
        }
        Some(Kind::StructValue(s)) => Value::Object(struct_from_proto(s)),
    }
}

fn struct_from_proto(s: pbjson_types::Struct) -> Map<String, Value> {
    let mut fields: Vec<_> = s.fields.into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields
        .into_iter()
        .map(|(k, v)| (k, value_from_proto(v)))
        .collect()
}

impl Serialize for JsonStruct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonStruct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(JsonStruct)
    }
}

impl prost::Message for JsonStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.to_proto().encode_raw(buf)
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag != 1 {
            return prost::encoding::skip_field(wire_type, tag, buf, ctx);
        }
        // Field 1 is `map<string, Value> fields`: one entry per call.
        let mut entry: HashMap<String, pbjson_types::Value> = HashMap::new();
        prost::encoding::hash_map::merge(
            prost::encoding::string::merge,
            prost::encoding::message::merge,
            &mut entry,
            buf,
            ctx,
        )?;
        for (k, v) in entry {
            self.0.insert(k, value_from_proto(v));
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.to_proto().encoded_len()
    }

    fn clear(&mut self) {
        self.0.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn json_is_kept_exactly_and_binary_round_trips() {
        let json = r#"{"big":269629023906488334,"f":1.5,"list":[1,"a",null,true],"n":1,"nested":{"x":[]}}"#;
        let s: JsonStruct = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), json);
        let back = JsonStruct::decode(s.encode_to_vec().as_slice()).unwrap();
        // Through a double, the large integer loses its last digits; everything else is kept.
        assert_eq!(back.0["n"], serde_json::json!(1));
        assert_eq!(back.0["f"], serde_json::json!(1.5));
        assert_eq!(back.0["list"], serde_json::json!([1, "a", null, true]));
        assert_eq!(back.0["nested"], serde_json::json!({"x": []}));
        assert!(serde_json::from_str::<JsonStruct>("[1]").is_err());
    }
}
