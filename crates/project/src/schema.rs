//! A project's label schema: the structures every annotator labels, with value, name, colour
//! and optional instructions — `{"labels":[{"value":1,"name":"liver","color":[0.9,0.4,0.3]}]}`.
//! Masks saved to the project may hold only background (0) and these values.

use serde::{Deserialize, Serialize};
use std::path::Path;
use voxmark_volume::error::{Error, Result};

/// One label of the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaLabel {
    pub value: u8,
    pub name: String,
    /// Linear RGB in 0..1.
    pub color: [f32; 3],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// The label schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelSchema {
    pub labels: Vec<SchemaLabel>,
}

impl LabelSchema {
    /// Parses and checks a schema (`origin` names it in errors).
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let s: LabelSchema = serde_json::from_str(text)
            .map_err(|e| Error::format(origin, format!("not a label schema: {e}")))?;
        s.check()
            .map_err(|problem| Error::format(origin, problem))?;
        Ok(s)
    }

    /// Reads a schema file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.labels.is_empty() {
            return Err("the schema has no labels".into());
        }
        let mut seen_v = [false; 256];
        let mut names = std::collections::HashSet::new();
        for l in &self.labels {
            if l.value == 0 {
                return Err(format!("label \"{}\": value 0 is the background", l.name));
            }
            if std::mem::replace(&mut seen_v[usize::from(l.value)], true) {
                return Err(format!("value {} is used twice", l.value));
            }
            if l.name.trim().is_empty() {
                return Err(format!("value {}: empty name", l.value));
            }
            if !names.insert(l.name.trim().to_lowercase()) {
                return Err(format!("name \"{}\" is used twice", l.name));
            }
            if l.color.iter().any(|c| !(0.0..=1.0).contains(c)) {
                return Err(format!(
                    "label \"{}\": colour components must be in 0..1",
                    l.name
                ));
            }
        }
        Ok(())
    }

    /// True for 0 and every schema value.
    pub fn allows(&self, value: u8) -> bool {
        value == 0 || self.labels.iter().any(|l| l.value == value)
    }

    /// The values of `mask` outside the schema (sorted, empty when all are allowed).
    pub fn outside(&self, mask: &[u8]) -> Vec<u8> {
        let mut present = [false; 256];
        for &v in mask {
            present[usize::from(v)] = true;
        }
        (0..=255u8)
            .filter(|&v| present[usize::from(v)] && !self.allows(v))
            .collect()
    }

    /// Refuses a decoded mask with values outside the schema, naming them and the schema.
    pub fn check_mask(&self, labels: &[u8], origin: &Path) -> Result<()> {
        let bad = self.outside(labels);
        if bad.is_empty() {
            return Ok(());
        }
        let allowed: Vec<String> = self
            .labels
            .iter()
            .map(|l| format!("{} {}", l.value, l.name))
            .collect();
        Err(Error::format(
            origin,
            format!(
                "label values {bad:?} are not in the project's schema (0 background, {})",
                allowed.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<LabelSchema> {
        LabelSchema::parse(t, Path::new("s.json"))
    }

    #[test]
    fn schemas_are_checked() {
        let ok = parse(
            r#"{"labels":[{"value":1,"name":"liver","color":[0.9,0.4,0.3]},{"value":2,"name":"spleen","color":[0,0,1],"instructions":"exclude hilum"}]}"#,
        );
        let s = ok.unwrap_or_else(|e| panic!("{e}"));
        assert!(s.allows(0) && s.allows(2) && !s.allows(3));
        assert_eq!(s.outside(&[0, 1, 2, 7, 7, 9]), vec![7, 9]);
        for (bad, why) in [
            (r#"{"labels":[]}"#, "no labels"),
            (
                r#"{"labels":[{"value":0,"name":"bg","color":[0,0,0]}]}"#,
                "background",
            ),
            (
                r#"{"labels":[{"value":1,"name":"a","color":[0,0,0]},{"value":1,"name":"b","color":[0,0,0]}]}"#,
                "twice",
            ),
            (
                r#"{"labels":[{"value":1,"name":"a","color":[0,0,0]},{"value":2,"name":"A","color":[0,0,0]}]}"#,
                "twice",
            ),
            (
                r#"{"labels":[{"value":1,"name":"a","color":[0,2,0]}]}"#,
                "0..1",
            ),
            (
                r#"{"labels":[{"value":300,"name":"a","color":[0,0,0]}]}"#,
                "label schema",
            ),
            (
                r#"{"labels":[{"value":1,"name":"a","colour":[0,0,0]}]}"#,
                "label schema",
            ),
        ] {
            let msg = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                msg.starts_with("s.json: ") && msg.contains(why),
                "{bad}: {msg}"
            );
        }
    }
}
