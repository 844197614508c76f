//! The bundle's `config.json` (and exec's `--process`) as oci-spec's types, with errors
//! that name the field of a bad value (`process.capabilities.effective[0]: unknown
//! capability …`) rather than only a line and column.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::plan::{ConfigError, CONFIG_FILE};

/// Read `<bundle>/config.json` with oci-spec's types.
pub fn load_spec(bundle: &Path) -> Result<Spec, ConfigError> {
    if !bundle.is_dir() {
        if bundle.exists() {
            return Err(ConfigError::BundleNotDir(bundle.to_path_buf()));
        }
        return Err(ConfigError::NoBundle(bundle.to_path_buf()));
    }
    let path = bundle.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::NoConfig(path))
        }
        Err(e) => {
            return Err(ConfigError::Read {
                path,
                message: e.to_string(),
            })
        }
    };
    parse_spec(&data).map_err(|e| match e {
        ConfigError::Json { message, .. } => ConfigError::Json { path, message },
        other => other,
    })
}

/// Parse a config; a value the typed config cannot hold is named by its field
/// (`process.capabilities.bounding[0]: unknown capability "CAP_BOGUS" …`), not only by
/// line and column.
pub fn parse_spec(data: &[u8]) -> Result<Spec, ConfigError> {
    parse_named::<Spec>(data).map_err(|e| match e {
        JsonError::Syntax(message) => ConfigError::Json {
            path: PathBuf::from(CONFIG_FILE),
            message,
        },
        JsonError::Field(m) => ConfigError::Field(m),
    })
}

/// Why a JSON document does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (with serde's line and column).
    Syntax(String),
    /// Valid JSON with a wrong value: the message starts with the field's path.
    Field(String),
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonError::Syntax(m) => write!(f, "invalid JSON: {m}"),
            JsonError::Field(m) => f.write_str(m),
        }
    }
}

/// Parse `data` as `T` (a config, or exec's `--process`), naming the field of a bad value.
pub fn parse_named<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, JsonError> {
    // serde reads a struct from an array too: say what the top level must be.
    if let Some(c) = data.iter().find(|c| !c.is_ascii_whitespace()) {
        if *c != b'{' {
            return Err(JsonError::Syntax(
                "the top level must be a JSON object ({ \"ociVersion\": …, … })".into(),
            ));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(data);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // Nothing but whitespace may follow (serde_json::from_slice checks this too).
        Ok(v) => {
            return de
                .end()
                .map(|()| v)
                .map_err(|e| JsonError::Syntax(e.to_string()))
        }
        Err(e) => e,
    };
    let field = err.path().to_string();
    let inner = err.into_inner();
    if inner.is_syntax() || inner.is_eof() || field == "." {
        return Err(JsonError::Syntax(inner.to_string()));
    }
    let raw: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    if field.starts_with("capabilities.") || field.contains(".capabilities.") {
        let name = pointer_of(&raw, &field)
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        return Err(JsonError::Field(format!(
            "{field}: unknown capability {name:?}: use a name like CAP_NET_BIND_SERVICE that this kernel knows (see `capsh --print` or `initscope-runtime features`)"
        )));
    }
    if field.starts_with("linux.seccomp") {
        if let Err(e) = crate::seccomp::check_json(&raw["linux"]["seccomp"]) {
            return Err(JsonError::Field(e.to_string()));
        }
    }
    Err(JsonError::Field(format!(
        "{field}: {}",
        strip_position(&inner.to_string())
    )))
}

/// The value at a serde_path_to_error path (`a.b[2].c`).
fn pointer_of<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// serde_json's " at line 3 column 7" suffix, dropped when the field is named instead.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}
