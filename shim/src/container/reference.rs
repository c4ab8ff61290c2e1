//! Naming a container on ids-runc's own commands: its full id, or a unique prefix of it, as docker
//! accepts (`ids-runc inspect 3f2a`).

use std::path::Path;

/// The one id among `ids` that `given` names (equal, or the only one it prefixes).
pub fn resolve<I: IntoIterator<Item = String>>(
    given: &str,
    ids: I,
    what: &str,
) -> anyhow::Result<String> {
    let mut matches: Vec<String> = ids.into_iter().filter(|id| id.starts_with(given)).collect();
    if let Some(exact) = matches.iter().find(|id| *id == given) {
        return Ok(exact.clone());
    }
    matches.sort();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => anyhow::bail!("no {what} for container {given:?}"),
        _ => anyhow::bail!(
            "{given:?} names {} containers ({}): give more of the id",
            matches.len(),
            matches.join(", ")
        ),
    }
}

/// Names of the entries of `dir` that end with `suffix`, without it.
pub fn names_in(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(suffix).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_unique_prefix_ambiguous_and_none() {
        let ids = || vec!["abc1".to_string(), "abc2".to_string(), "abd".to_string()];
        assert_eq!(resolve("abd", ids(), "monitor").unwrap(), "abd");
        assert_eq!(resolve("abc1", ids(), "monitor").unwrap(), "abc1");
        let err = resolve("abc", ids(), "monitor").unwrap_err().to_string();
        assert!(err.contains("abc1, abc2"), "{err}");
        assert!(resolve("x", ids(), "monitor").is_err());
    }
}
