//! Where a value sits in a YAML file, for errors found after parsing.
//!
//! serde_norway keeps no spans, but every error raised while visiting a node
//! carries that node's position. [`locate`] walks a document down a path and
//! raises such an error at the node it looks for, then reads the position.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A value's place from the document root: `targets[2].http.url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl YamlPath {
    pub fn root() -> YamlPath {
        YamlPath::default()
    }

    pub fn key(&self, key: &str) -> YamlPath {
        self.with(Segment::Key(key.to_string()))
    }

    pub fn index(&self, index: usize) -> YamlPath {
        self.with(Segment::Index(index))
    }

    fn with(&self, segment: Segment) -> YamlPath {
        let mut path = self.clone();
        path.0.push(segment);
        path
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of the value at `path` in the `document`-th YAML
/// document of `text`; of its nearest written ancestor when the value itself is
/// not written (a default); `None` only if not even the document parses.
pub fn locate(text: &str, document: usize, path: &YamlPath) -> Option<(usize, usize)> {
    (0..=path.0.len())
        .rev()
        .find_map(|depth| locate_exactly(text, document, &path.0[..depth]))
}

/// The message of the error [`Seek`] raises when it reaches its node.
const FOUND: &str = "autoheal-locate-found";

fn locate_exactly(text: &str, document: usize, path: &[Segment]) -> Option<(usize, usize)> {
    let document = serde_norway::Deserializer::from_str(text).nth(document)?;
    let err = Seek(path).deserialize(document).err()?;
    // The parser prefixes the path: `targets[0].http.url: autoheal-locate-found`.
    if !err.to_string().contains(FOUND) {
        return None;
    }
    err.location().map(|l| (l.line(), l.column()))
}

/// Walks down the path; at its end, fails, so the parser marks the node.
struct Seek<'p>(&'p [Segment]);

fn found<E: de::Error>() -> E {
    E::custom(FOUND)
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(found());
        };
        while let Some(key) = map.next_key::<serde_norway::Value>()? {
            match (first, key) {
                (Segment::Key(want), serde_norway::Value::String(key)) if *want == key => {
                    return map.next_value_seed(Seek(rest));
                }
                _ => map.next_value::<IgnoredAny>()?,
            };
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(found());
        };
        let mut index = 0;
        loop {
            if *first == Segment::Index(index) {
                return seq.next_element_seed(Seek(rest)).map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
}

impl Seek<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(found())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
targets:
  - name: web
    http: { url: 'not a url' }
  - name: db
    tcp:
      address: nope
policy:
  learning_prior: .nan
";

    fn at(path: YamlPath) -> Option<(usize, usize)> {
        locate(TEXT, 0, &path)
    }

    #[test]
    fn finds_scalars_in_block_and_flow_style() {
        let targets = YamlPath::root().key("targets");
        assert_eq!(at(targets.index(0).key("http").key("url")), Some((3, 18)));
        assert_eq!(
            at(targets.index(1).key("tcp").key("address")),
            Some((6, 16))
        );
        assert_eq!(
            at(YamlPath::root().key("policy").key("learning_prior")),
            Some((8, 19))
        );
    }

    #[test]
    fn a_sequence_item_is_found_at_its_first_key() {
        let targets = YamlPath::root().key("targets");
        assert_eq!(at(targets.index(1)), Some((4, 5)));
        assert_eq!(at(targets.index(1).key("name")), Some((4, 11)));
    }

    #[test]
    fn an_unwritten_value_falls_back_to_its_nearest_ancestor() {
        let web = YamlPath::root().key("targets").index(0);
        assert_eq!(at(web.key("interval")), Some((2, 5)));
        assert_eq!(
            at(YamlPath::root().key("defaults").key("timeout")),
            Some((1, 1))
        );
    }

    #[test]
    fn finds_values_in_later_documents() {
        let text = "name: a\n---\nname: b\nretries: 7\n";
        assert_eq!(
            locate(text, 1, &YamlPath::root().key("retries")),
            Some((4, 10))
        );
    }

    #[test]
    fn displays_like_serde_paths() {
        let path = YamlPath::root().key("targets").index(2).key("http");
        assert_eq!(path.to_string(), "targets[2].http");
    }
}
