//! Reading configuration files (TOML): the text with its name for messages, and
//! deserialisation whose every error is one line naming the file, the line and the key.

use std::path::Path;

use crate::AssimError;

/// The text of a configuration file and its name for error messages.
pub fn read_text(path: &Path) -> Result<(String, String), AssimError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| AssimError::config(&file, "<file>", format!("cannot read: {e}")))?;
    Ok((text, file))
}

/// Deserialises TOML text; a syntax error, an unknown key or a bad value becomes one line
/// naming the file, the line and the key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, AssimError> {
    toml::from_str(text).map_err(|e| toml_error(text, file, &e))
}

/// Turns a TOML/serde error into one line: file, line, the key on that line, the message.
fn toml_error(text: &str, file: &str, e: &toml::de::Error) -> AssimError {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("");
            let key = line.split('=').next().unwrap_or("").trim().trim_matches(['[', ']']);
            let key = if key.is_empty() { "<file>".to_string() } else { key.to_string() };
            AssimError::config(file, format!("line {line_no}: {key}"), msg)
        }
        None => AssimError::config(file, "<file>", msg),
    }
}
