//! Paths as a profile keeps them: normalised, then generalised so that names a service makes up
//! as it runs (`#sql-temp-123`, `access.log.3`, `/proc/4711/stat`) stay one resource.
//!
//! Normalising is lexical: `//` and `/./` fold, `..` drops the component before it (never above
//! the root). Links are not followed: the path is what the process asked for, never looked up on
//! the host. A relative path starts from the directory the caller's working directory or
//! directory fd is, as the kernel names it to the monitor (the caller's own view, inside its
//! root); if that cannot be read, it starts with `./` or `(dir)/`.
//!
//! Generalising, per component: every run of decimal digits becomes `#`, and so does a run of
//! eight or more hexadecimal digits holding at least one decimal digit (hashes, container ids,
//! UUID parts). A literal `#`, `*` or `\` in a name is written `\#`, `\*`, `\\`, so that it cannot
//! stand for a generalised run or for "any name" (`*`, see `set.rs`).

/// Bytes of a path read from a process at most (the kernel's `PATH_MAX`); longer ones are cut.
pub const MAX_PATH: usize = 4096;

/// Where a relative path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// This directory, as the caller sees it (its working directory or a directory fd, read from
    /// `/proc/<tid>/cwd` or `/proc/<tid>/fd/<n>`).
    Directory(&'a str),
    /// The working directory, which could not be read: `./`.
    WorkingDirectory,
    /// A directory fd that could not be read: `(dir)/`.
    DirectoryFd,
}

/// Appends the lexically normalised `path`, relative paths from `start`, to `out`.
pub fn normalise(path: &str, start: Start<'_>, out: &mut String) {
    let (root, base) = match start {
        _ if path.starts_with('/') => ("", ""),
        Start::Directory(dir) if dir.starts_with('/') => ("", dir),
        Start::Directory(_) | Start::WorkingDirectory => (".", ""),
        Start::DirectoryFd => ("(dir)", ""),
    };
    out.push_str(root);
    let floor = out.len();
    for component in base.split('/').chain(path.split('/')) {
        match component {
            "" | "." => {}
            ".." => {
                let cut = out[floor..].rfind('/').map_or(floor, |i| floor + i);
                out.truncate(cut);
            }
            name => {
                out.push('/');
                out.push_str(name);
            }
        }
    }
    if out.len() == floor {
        out.push('/');
    }
}

/// Appends the generalised form of a normalised path to `out`: alphanumeric runs that are numbers
/// or long hex strings become `#`, digit runs inside other words too; `#`, `*` and `\` are
/// escaped. One pass over the whole path: a `/` ends a run like any other punctuation, so the
/// components need not be split first.
pub fn generalise(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            // Everything up to the next word or marker at once. The bounds are ASCII bytes, which
            // never fall inside a multi-byte character.
            let end = bytes[i..]
                .iter()
                .position(|&b| b.is_ascii_alphanumeric() || is_marker(b))
                .map_or(bytes.len(), |n| i + n);
            if end == i {
                out.push('\\');
                out.push(bytes[i] as char);
                i += 1;
            } else {
                out.push_str(&path[i..end]);
                i = end;
            }
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| i + n);
        generalise_word(&path[i..end], out);
        i = end;
    }
}

/// `#`, `*` and `\`, which a generalised name uses for itself.
fn is_marker(b: u8) -> bool {
    matches!(b, b'#' | b'*' | b'\\')
}

/// One alphanumeric run (ASCII only).
fn generalise_word(word: &str, out: &mut String) {
    let bytes = word.as_bytes();
    let hex_id = bytes.len() >= 8
        && bytes.iter().all(u8::is_ascii_hexdigit)
        && bytes.iter().any(u8::is_ascii_digit);
    if hex_id {
        out.push('#');
        return;
    }
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes[i].is_ascii_digit();
        let end = bytes[i..]
            .iter()
            .position(|b| b.is_ascii_digit() != digits)
            .map_or(bytes.len(), |n| i + n);
        if digits {
            out.push('#');
        } else {
            out.push_str(&word[i..end]);
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str, start: Start<'_>) -> String {
        let mut out = String::new();
        normalise(path, start, &mut out);
        out
    }

    fn general(path: &str) -> String {
        let mut out = String::new();
        generalise(&norm(path, Start::WorkingDirectory), &mut out);
        out
    }

    #[test]
    fn normalising_is_lexical() {
        use Start::*;
        assert_eq!(norm("/etc//passwd", WorkingDirectory), "/etc/passwd");
        assert_eq!(
            norm("/tmp/../etc/./shadow", WorkingDirectory),
            "/etc/shadow"
        );
        assert_eq!(norm("/../../etc/shadow", WorkingDirectory), "/etc/shadow");
        assert_eq!(norm("/", WorkingDirectory), "/");
        assert_eq!(norm("/tmp/..", WorkingDirectory), "/");
        assert_eq!(norm("ibdata1", WorkingDirectory), "./ibdata1");
        assert_eq!(norm("./db/../x.frm", WorkingDirectory), "./x.frm");
        assert_eq!(norm("../../etc/shadow", WorkingDirectory), "./etc/shadow");
        assert_eq!(norm("t1.ibd", DirectoryFd), "(dir)/t1.ibd");
        assert_eq!(norm("", WorkingDirectory), "./");
        assert_eq!(
            norm("./shop/t1.ibd", Directory("/var/lib/mysql")),
            "/var/lib/mysql/shop/t1.ibd"
        );
        assert_eq!(
            norm("../../../etc/shadow", Directory("/var/lib/mysql")),
            "/etc/shadow"
        );
        assert_eq!(
            norm("/etc/passwd", Directory("/var/lib/mysql")),
            "/etc/passwd"
        );
        assert_eq!(
            norm("x", Directory("socket:[4711]")),
            "./x",
            "not a directory"
        );
    }

    #[test]
    fn made_up_names_generalise() {
        assert_eq!(general("/proc/4711/status"), "/proc/#/status");
        assert_eq!(general("/proc/4711/task/4712/stat"), "/proc/#/task/#/stat");
        assert_eq!(
            general("/var/lib/mysql/#sql-temp-123.ibd"),
            "/var/lib/mysql/\\#sql-temp-#.ibd"
        );
        assert_eq!(
            general("/var/log/nginx/access.log.2026-11-29"),
            "/var/log/nginx/access.log.#-#-#"
        );
        assert_eq!(
            general("/var/lib/mysql/ib_logfile0"),
            "/var/lib/mysql/ib_logfile#"
        );
        assert_eq!(general("/lib/libc.so.6"), "/lib/libc.so.#");
        assert_eq!(
            general("/run/9f86d081884c7d659a2feaa0c55ad015/x"),
            "/run/#/x"
        );
        assert_eq!(general("/tmp/tmpAbXy9Z"), "/tmp/tmpAbXy#Z");
        assert_eq!(general("/etc/passwd"), "/etc/passwd");
        // Hex words without a digit are words.
        assert_eq!(general("/srv/deadbeefcafe"), "/srv/deadbeefcafe");
        // Short hex with digits: only the digit runs go.
        assert_eq!(general("/srv/ab12cd"), "/srv/ab#cd");
    }

    #[test]
    fn markers_cannot_be_forged() {
        assert_eq!(general("/tmp/*"), "/tmp/\\*");
        assert_eq!(general("/tmp/#"), "/tmp/\\#");
        assert_eq!(general("/tmp/a\\b"), "/tmp/a\\\\b");
        assert_eq!(general("/tmp/é1"), "/tmp/é#");
        assert_eq!(general("/tmp/\\#\\*x"), "/tmp/\\\\\\#\\\\\\*x");
    }

    #[test]
    fn runs_end_at_slashes_and_multi_byte_characters() {
        assert_eq!(general("/a1/2b/c3d"), "/a#/#b/c#d");
        assert_eq!(general("/1/22/333"), "/#/#/#");
        assert_eq!(general("/x/ü7ü/12345678ab"), "/x/ü#ü/#");
        assert_eq!(general("/data/日本2026語"), "/data/日本#語");
        assert_eq!(general("/"), "/");
    }
}
