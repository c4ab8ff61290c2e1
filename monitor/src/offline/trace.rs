//! Reading recorded syscall traces: ADFA-LD files, one name per line, and `strace -f` output.

use std::fs;
use std::path::{Path, PathBuf};

use ids_detector::alphabet::{Alphabet, Arch, Sym};

/// How a trace file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Space-separated syscall numbers of one process (ADFA-LD); the architecture must be given.
    Adfa,
    /// One syscall name per line; blank lines and `#` comments are skipped.
    Names,
    /// `strace -f` output: `PID  name(args) = ret`, `[pid PID] name(...`, resumed, signal and exit
    /// lines.
    Strace,
}

impl std::str::FromStr for TraceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "adfa" => Ok(TraceFormat::Adfa),
            "names" => Ok(TraceFormat::Names),
            "strace" => Ok(TraceFormat::Strace),
            _ => Err(format!(
                "unknown trace format {s:?} (expected adfa, names or strace)"
            )),
        }
    }
}

/// One call of a trace: the thread (0 when the trace has one stream), the syscall, and when it was
/// made, if the trace says (`strace -ttt`: milliseconds since the Unix epoch; `-tt` and `-t`:
/// since midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub stream: u32,
    pub sym: Sym,
    pub at_ms: Option<u64>,
}

/// A trace read from a file.
#[derive(Debug, Clone)]
pub struct Trace {
    pub path: PathBuf,
    pub calls: Vec<Call>,
}

impl Trace {
    /// The syscalls in order, threads interleaved.
    pub fn syms(&self) -> Vec<Sym> {
        self.calls.iter().map(|c| c.sym).collect()
    }
}

/// A trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("failed to read trace {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trace {}: line {line}: {reason}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Reads one trace file. `arch` gives the syscall numbering of ADFA files.
pub fn read_trace(path: &Path, format: TraceFormat, arch: Arch) -> Result<Trace, TraceError> {
    let text = fs::read_to_string(path).map_err(|source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trace(&text, path, format, arch)
}

/// Parses trace text; `path` names the trace in errors.
pub fn parse_trace(
    text: &str,
    path: &Path,
    format: TraceFormat,
    arch: Arch,
) -> Result<Trace, TraceError> {
    let alphabet = Alphabet::system();
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fail = |reason: String| TraceError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        match format {
            TraceFormat::Adfa => {
                for token in line.split_whitespace() {
                    let nr: u32 = token
                        .parse()
                        .map_err(|_| fail(format!("{token:?} is not a syscall number")))?;
                    let sym = alphabet
                        .sym(arch, nr)
                        .ok_or_else(|| fail(format!("no syscall {nr} on {arch}")))?;
                    calls.push(Call {
                        stream: 0,
                        sym,
                        at_ms: None,
                    });
                }
            }
            TraceFormat::Names => {
                let name = line.trim();
                if name.is_empty() || name.starts_with('#') {
                    continue;
                }
                let sym = alphabet
                    .sym_by_name(name)
                    .ok_or_else(|| fail(format!("unknown syscall {name:?}")))?;
                calls.push(Call {
                    stream: 0,
                    sym,
                    at_ms: None,
                });
            }
            TraceFormat::Strace => {
                if let Some((stream, at_ms, name)) = strace_call(line) {
                    let sym = alphabet
                        .sym_by_name(name)
                        .ok_or_else(|| fail(format!("unknown syscall {name:?}")))?;
                    calls.push(Call { stream, sym, at_ms });
                }
            }
        }
    }
    Ok(Trace {
        path: path.to_path_buf(),
        calls,
    })
}

/// The thread, time and syscall name of an `strace` line that starts a call; `None` for lines that
/// do not (resumed calls were counted when they started; signals, exits and strace's own messages
/// are not calls).
fn strace_call(line: &str) -> Option<(u32, Option<u64>, &str)> {
    let mut rest = line.trim_start();
    let mut stream = 0;
    if let Some(after) = rest.strip_prefix("[pid") {
        let (pid, tail) = after.trim_start().split_once(']')?;
        stream = pid.trim().parse().ok()?;
        rest = tail.trim_start();
    } else {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && rest[digits..].starts_with(char::is_whitespace) {
            stream = rest[..digits].parse().ok()?;
            rest = rest[digits..].trim_start();
        }
    }
    // An optional timestamp (-t, -tt, -ttt, -r): a token of digits, ':' and '.'.
    let mut at_ms = None;
    if let Some((first, tail)) = rest.split_once(char::is_whitespace) {
        if !first.is_empty()
            && first
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        {
            at_ms = timestamp_ms(first);
            rest = tail.trim_start();
        }
    }
    let (name, _) = rest.split_once('(')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid.then_some((stream, at_ms, name))
}

/// Milliseconds of an strace timestamp: `-ttt` seconds since the epoch (`1700000000.123456`), or
/// `-tt`/`-t` time of day (`12:00:01.000123`, `12:00:01`).
fn timestamp_ms(token: &str) -> Option<u64> {
    let (whole, fraction) = token.split_once('.').unwrap_or((token, ""));
    let seconds: u64 = if whole.contains(':') {
        let mut parts = whole.split(':').map(|p| p.parse::<u64>().ok());
        let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
        h * 3600 + m * 60 + s
    } else {
        whole.parse().ok()?
    };
    let millis: u64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    Some(seconds * 1000 + millis)
}

/// The trace files under `paths` (files as given, directories walked recursively), sorted so runs
/// are reproducible.
pub fn trace_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TraceError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    files.sort();
    Ok(files)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), TraceError> {
    let err = |source| TraceError::Read {
        path: path.to_path_buf(),
        source,
    };
    if fs::metadata(path).map_err(err)?.is_dir() {
        for entry in fs::read_dir(path).map_err(err)? {
            collect(&entry.map_err(err)?.path(), files)?;
        }
    } else {
        files.push(path.to_path_buf());
    }
    Ok(())
}

/// Reads every trace under `paths`.
pub fn read_traces(
    paths: &[PathBuf],
    format: TraceFormat,
    arch: Arch,
) -> Result<Vec<Trace>, TraceError> {
    trace_files(paths)?
        .iter()
        .map(|p| read_trace(p, format, arch))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_timestamps_become_milliseconds() {
        let text =
            "7 1700000000.123456 read(3, \"\", 1) = 0\n7 12:00:01.5 close(3) = 0\n7 getpid() = 7\n";
        let t = parse_trace(text, Path::new("s"), TraceFormat::Strace, Arch::X86_64).unwrap();
        let at: Vec<Option<u64>> = t.calls.iter().map(|c| c.at_ms).collect();
        assert_eq!(at, [Some(1_700_000_000_123), Some(43_201_500), None]);
    }

    fn names(trace: &Trace) -> Vec<(u32, &str)> {
        let a = Alphabet::system();
        trace
            .calls
            .iter()
            .map(|c| (c.stream, a.name(c.sym)))
            .collect()
    }

    #[test]
    fn adfa_numbers_use_the_given_arch() {
        let t = parse_trace(
            "3 4 5\n6 \n",
            Path::new("t.txt"),
            TraceFormat::Adfa,
            Arch::X86,
        )
        .unwrap();
        assert_eq!(
            names(&t),
            [(0, "read"), (0, "write"), (0, "open"), (0, "close")]
        );
        let e = parse_trace("3 x", Path::new("t.txt"), TraceFormat::Adfa, Arch::X86).unwrap_err();
        assert_eq!(
            e.to_string(),
            "trace t.txt: line 1: \"x\" is not a syscall number"
        );
        let e =
            parse_trace("\n9999", Path::new("t.txt"), TraceFormat::Adfa, Arch::X86).unwrap_err();
        assert_eq!(e.to_string(), "trace t.txt: line 2: no syscall 9999 on x86");
    }

    #[test]
    fn names_skip_blank_lines_and_comments() {
        let t = parse_trace(
            "# start\nopenat\n\n read \n",
            Path::new("n"),
            TraceFormat::Names,
            Arch::X86_64,
        )
        .unwrap();
        assert_eq!(names(&t), [(0, "openat"), (0, "read")]);
        let e = parse_trace(
            "openat\nfrobnicate\n",
            Path::new("n"),
            TraceFormat::Names,
            Arch::X86_64,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "trace n: line 2: unknown syscall \"frobnicate\""
        );
    }

    #[test]
    fn strace_lines_give_pid_and_name() {
        let text = r#"execve("/bin/sh", ["sh"], 0x7ff /* 20 vars */) = 0
1234  openat(AT_FDCWD, "/x", O_RDONLY) = 3
1234  read(3,  <unfinished ...>
1235  12:00:01.000123 futex(0x1, FUTEX_WAIT, 0, NULL <unfinished ...>
1234  <... read resumed>"abc", 3) = 3
[pid  1236] close(3)                    = 0
1234  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
1235  +++ exited with 0 +++
strace: Process 1237 attached
1234  exit_group(0)                     = ?
"#;
        let t = parse_trace(text, Path::new("s"), TraceFormat::Strace, Arch::X86_64).unwrap();
        assert_eq!(
            names(&t),
            [
                (0, "execve"),
                (1234, "openat"),
                (1234, "read"),
                (1235, "futex"),
                (1236, "close"),
                (1234, "exit_group")
            ]
        );
        let e = parse_trace(
            "1 foo_bar(1) = 0\n",
            Path::new("s"),
            TraceFormat::Strace,
            Arch::X86_64,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "trace s: line 1: unknown syscall \"foo_bar\""
        );
    }

    #[test]
    fn directories_are_walked_in_order() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::write(dir.path().join("b/2.txt"), "3").unwrap();
        fs::write(dir.path().join("a.txt"), "4 4").unwrap();
        let traces =
            read_traces(&[dir.path().to_path_buf()], TraceFormat::Adfa, Arch::X86).unwrap();
        assert_eq!(traces.len(), 2);
        assert!(traces[0].path.ends_with("a.txt"));
        assert_eq!(traces[0].calls.len(), 2);
        assert!(traces[1].path.ends_with("b/2.txt"));
    }
}
