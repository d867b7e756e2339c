//! How the status commands print: the `-o` format, the structured (JSON/YAML) rendering of a status
//! object, and the pieces the text renderings share (aligned tables, human units and ages). Pure;
//! nothing here talks to the API server.

pub mod conditions;
pub mod table;
pub mod units;

use serde::Serialize;

/// The `-o` choice of a status command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Sections and tables for people.
    #[default]
    Text,
    /// The status object as JSON, for scripts.
    Json,
    /// The status object as YAML.
    Yaml,
}

/// A status object that could not be written as JSON or YAML.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// serde_json refused it.
    #[error("cannot write the status as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// serde_norway refused it.
    #[error("cannot write the status as YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// `value` as `format` asks, for the structured formats; `None` for [`Format::Text`], which each
/// command renders its own way.
pub fn structured<T: Serialize>(value: &T, format: Format) -> Result<Option<String>, OutputError> {
    Ok(match format {
        Format::Text => None,
        Format::Json => Some(serde_json::to_string_pretty(value)?),
        // The YAML writer ends with a newline; the caller prints a line of its own.
        Format::Yaml => Some(serde_norway::to_string(value)?.trim_end().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        current_primary: &'static str,
        timeline: i32,
    }

    #[test]
    fn structured_formats_keep_the_api_field_names() {
        let s = Sample {
            current_primary: "a",
            timeline: 2,
        };
        let cases = [
            (Format::Text, None),
            (
                Format::Json,
                Some("{\n  \"currentPrimary\": \"a\",\n  \"timeline\": 2\n}"),
            ),
            (Format::Yaml, Some("currentPrimary: a\ntimeline: 2")),
        ];
        for (format, want) in cases {
            let got = structured(&s, format).expect("serializable");
            assert_eq!(got.as_deref(), want, "{format:?}");
        }
    }
}
