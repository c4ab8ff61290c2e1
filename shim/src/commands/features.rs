//! `ids-runc features`: runc's features JSON, with ours added as annotations (the OCI features
//! document reserves `annotations` for runtime-specific facts).

use std::io::Write;

use anyhow::Context;

use crate::runc::Runc;

pub fn run(runc: &Runc, words: &[std::ffi::OsString]) -> anyhow::Result<i32> {
    let out = runc.output(
        &words
            .iter()
            .map(|w| w.to_str().context("non-UTF-8 argument to features"))
            .collect::<anyhow::Result<Vec<_>>>()?,
    )?;
    std::io::stderr().write_all(&out.stderr)?;
    if !out.status.success() {
        std::io::stdout().write_all(&out.stdout)?;
        return Ok(crate::runc::exit_code(out.status));
    }
    let mut features: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{} features printed invalid JSON", runc.path.display()))?;
    let doc = features
        .as_object_mut()
        .context("runc features did not print a JSON object")?;
    let annotations = doc
        .entry("annotations")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(map) = annotations.as_object_mut() {
        map.insert(
            "io.github.ids-runc.version".into(),
            env!("CARGO_PKG_VERSION").into(),
        );
        map.insert(
            "io.github.ids-runc.monitors".into(),
            "seccomp-notify".into(),
        );
    }
    println!("{}", serde_json::to_string_pretty(&features)?);
    Ok(0)
}
