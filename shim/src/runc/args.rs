//! runc's command line, read the way runc reads it, without refusing anything.
//!
//! ids-runc must accept every command line runc accepts, and pass it on unchanged. runc parses with
//! urfave/cli: global flags, then a command, then that command's flags, then positional arguments;
//! a flag is `-name` or `--name`, its value is the next word or follows `=`, and flag parsing stops at
//! the first positional word or at `--`. clap cannot both refuse nothing and keep the order, so this
//! scanner only *reads* the words ids-runc needs (the global options, the command, the bundle, the
//! container id) and the original words are what runc gets. A flag it does not know is taken as a
//! boolean: runc's own value-taking flags are listed, so that only matters for flags runc itself
//! would refuse.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Global flags of runc that take a value.
const GLOBAL_VALUE_FLAGS: &[&str] = &["root", "log", "log-format", "criu", "rootless"];

/// Command flags of runc that take a value, per command ids-runc reads.
fn command_value_flags(command: &str) -> &'static [&'static str] {
    match command {
        "create" => &["bundle", "b", "console-socket", "pid-file", "preserve-fds"],
        "run" => &["bundle", "b", "console-socket", "pid-file", "preserve-fds"],
        "exec" => &[
            "console-socket",
            "cwd",
            "env",
            "e",
            "user",
            "u",
            "additional-gids",
            "g",
            "process",
            "p",
            "pid-file",
            "process-label",
            "apparmor",
            "cap",
            "c",
            "preserve-fds",
            "cgroup",
        ],
        _ => &[],
    }
}

/// The log format of runc's `--log` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// runc's global options, as far as ids-runc needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalOpts {
    pub root: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub log_format: LogFormat,
    pub debug: bool,
    pub systemd_cgroup: bool,
    pub version: bool,
    pub help: bool,
}

/// One flag as written: its name without dashes and its value, if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: Option<OsString>,
}

/// A runc command line, read but not changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuncArgs {
    /// Every word after the program name, exactly as given: what runc receives.
    pub words: Vec<OsString>,
    pub global: GlobalOpts,
    /// Index into `words` of the command, if there is one.
    pub command_at: Option<usize>,
    /// The command's flags, in order.
    pub flags: Vec<Flag>,
    /// The command's positional arguments (the container id first, for most commands).
    pub positional: Vec<OsString>,
}

/// Splits `-name`, `--name` and `--name=value` into (name, inline value); `None` if not a flag.
fn split_flag(word: &OsStr) -> Option<(String, Option<OsString>)> {
    let bytes = word.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'-' || bytes == b"--" {
        return None;
    }
    let body = if bytes[1] == b'-' {
        &bytes[2..]
    } else {
        &bytes[1..]
    };
    let (name, value) = match body.iter().position(|&b| b == b'=') {
        Some(eq) => (
            &body[..eq],
            Some(OsStr::from_bytes(&body[eq + 1..]).to_owned()),
        ),
        None => (body, None),
    };
    Some((String::from_utf8_lossy(name).into_owned(), value))
}

/// Reads flags from `words[start..]` until the first positional word or `--`. Returns the flags and
/// the index of the first word after them.
fn scan_flags(words: &[OsString], start: usize, value_flags: &[&str]) -> (Vec<Flag>, usize) {
    let mut flags = Vec::new();
    let mut i = start;
    while i < words.len() {
        if words[i].as_bytes() == b"--" {
            return (flags, i + 1);
        }
        let Some((name, mut value)) = split_flag(&words[i]) else {
            break;
        };
        i += 1;
        if value.is_none() && value_flags.contains(&name.as_str()) && i < words.len() {
            value = Some(words[i].clone());
            i += 1;
        }
        flags.push(Flag { name, value });
    }
    (flags, i)
}

fn is_true(value: &Option<OsString>) -> bool {
    value.as_ref().map(|v| v != "false").unwrap_or(true)
}

impl RuncArgs {
    pub fn parse(words: Vec<OsString>) -> Self {
        let (global_flags, next) = scan_flags(&words, 0, GLOBAL_VALUE_FLAGS);
        let mut global = GlobalOpts::default();
        for flag in &global_flags {
            match flag.name.as_str() {
                "root" => global.root = flag.value.clone().map(PathBuf::from),
                "log" => global.log = flag.value.clone().map(PathBuf::from),
                "log-format" => {
                    global.log_format = match flag.value.as_deref() {
                        Some(v) if v == "json" => LogFormat::Json,
                        _ => LogFormat::Text,
                    }
                }
                "debug" => global.debug = is_true(&flag.value),
                "systemd-cgroup" => global.systemd_cgroup = is_true(&flag.value),
                "version" | "v" => global.version = true,
                "help" | "h" => global.help = true,
                _ => {}
            }
        }
        let command_at = (next < words.len()).then_some(next);
        let (flags, positional) = match command_at {
            Some(at) => {
                let command = words[at].to_string_lossy().into_owned();
                let (flags, rest) = scan_flags(&words, at + 1, command_value_flags(&command));
                (flags, words[rest..].to_vec())
            }
            None => (Vec::new(), Vec::new()),
        };
        RuncArgs {
            words,
            global,
            command_at,
            flags,
            positional,
        }
    }

    /// The command word (`create`, `state`, …), if any.
    pub fn command(&self) -> Option<&OsStr> {
        self.command_at.map(|at| self.words[at].as_os_str())
    }

    /// The last value given for any of `names` (runc keeps the last one too).
    pub fn flag_value(&self, names: &[&str]) -> Option<&OsStr> {
        self.flags
            .iter()
            .rev()
            .find(|f| names.contains(&f.name.as_str()))
            .and_then(|f| f.value.as_deref())
    }

    /// Whether the command asks for its help (`run -h`): runc prints it and does nothing else.
    pub fn asks_help(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f.name.as_str(), "h" | "help") && is_true(&f.value))
    }

    /// The container id: the first positional argument.
    pub fn container_id(&self) -> Option<&OsStr> {
        self.positional.first().map(|p| p.as_os_str())
    }

    /// The bundle directory of `create`/`run`: `--bundle`/`-b`, else the current directory.
    pub fn bundle(&self) -> Option<PathBuf> {
        self.flag_value(&["bundle", "b"])
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> RuncArgs {
        RuncArgs::parse(line.split_whitespace().map(OsString::from).collect())
    }

    #[test]
    fn reads_what_the_containerd_shim_sends() {
        let a = parse(
            "--root /run/docker/runtime-runc/moby --log /b/log.json --log-format json \
             --systemd-cgroup create --bundle /b --pid-file /b/init.pid --console-socket /s.sock abc123",
        );
        assert_eq!(
            a.global.root,
            Some(PathBuf::from("/run/docker/runtime-runc/moby"))
        );
        assert_eq!(a.global.log, Some(PathBuf::from("/b/log.json")));
        assert_eq!(a.global.log_format, LogFormat::Json);
        assert!(a.global.systemd_cgroup);
        assert_eq!(a.command(), Some(OsStr::new("create")));
        assert_eq!(a.bundle(), Some(PathBuf::from("/b")));
        assert_eq!(a.flag_value(&["pid-file"]), Some(OsStr::new("/b/init.pid")));
        assert_eq!(a.container_id(), Some(OsStr::new("abc123")));
    }

    #[test]
    fn accepts_single_dash_and_equals_forms() {
        let a = parse("-root=/r -log-format=json run -b=/bundle -d ctr");
        assert_eq!(a.global.root, Some(PathBuf::from("/r")));
        assert_eq!(a.global.log_format, LogFormat::Json);
        assert_eq!(a.bundle(), Some(PathBuf::from("/bundle")));
        assert!(a.flags.iter().any(|f| f.name == "d" && f.value.is_none()));
        assert_eq!(a.container_id(), Some(OsStr::new("ctr")));
    }

    #[test]
    fn exec_stops_at_the_container_id() {
        let a = parse("exec -e A=1 --user 0:0 -t ctr sh -c true");
        assert_eq!(a.container_id(), Some(OsStr::new("ctr")));
        assert_eq!(a.positional.len(), 4);
        assert_eq!(a.flag_value(&["env", "e"]), Some(OsStr::new("A=1")));
    }

    #[test]
    fn unknown_flags_are_kept_and_read_as_booleans() {
        let a = parse("--future-flag create --new-thing --bundle /b id");
        assert_eq!(a.command(), Some(OsStr::new("create")));
        assert!(a
            .flags
            .iter()
            .any(|f| f.name == "new-thing" && f.value.is_none()));
        assert_eq!(a.container_id(), Some(OsStr::new("id")));
        assert_eq!(a.words.len(), 6, "the words themselves are untouched");
    }

    #[test]
    fn double_dash_ends_flags() {
        let a = parse("delete -f -- -weird-id");
        assert!(a.flags.iter().any(|f| f.name == "f"));
        assert_eq!(a.container_id(), Some(OsStr::new("-weird-id")));
    }

    #[test]
    fn version_and_help_without_a_command() {
        assert!(parse("--version").global.version);
        assert!(parse("-v").global.version);
        assert!(parse("--help").global.help);
        assert_eq!(parse("--debug").command(), None);
        assert!(parse("--debug=false state x").global.debug.eq(&false));
        assert!(parse("run -h").asks_help());
        assert!(parse("create --bundle /b --help").asks_help());
        assert!(!parse("run -d ctr").asks_help());
        assert!(
            !parse("-h run ctr").asks_help(),
            "a global -h is not the command's"
        );
    }

    /// Words as runc's callers write them, and anything else.
    fn word() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            prop::sample::select(vec![
                "create",
                "run",
                "exec",
                "delete",
                "state",
                "--root",
                "--log",
                "--log-format",
                "json",
                "--bundle",
                "-b",
                "--",
                "-",
                "--=",
                "-=",
                "--pid-file",
                "--debug=false",
                "--systemd-cgroup",
                "--version",
                "-v",
                "-h",
                "--preserve-fds",
                "=",
                "---x",
            ])
            .prop_map(|w| w.as_bytes().to_vec()),
            "-{0,3}[a-z=-]{0,8}(=[a-z/]{0,6})?".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        /// Any command line is read without a panic, and runc gets its words unchanged.
        #[test]
        fn any_command_line_is_read_and_kept(words in proptest::collection::vec(word(), 0..12)) {
            let words: Vec<OsString> = words
                .into_iter()
                .map(|w| OsStr::from_bytes(&w).to_owned())
                .collect();
            let a = RuncArgs::parse(words.clone());
            proptest::prop_assert_eq!(&a.words, &words);
            if let Some(at) = a.command_at {
                proptest::prop_assert!(at < words.len());
                proptest::prop_assert_eq!(a.command(), Some(words[at].as_os_str()));
            }
            let _ = (a.container_id(), a.bundle(), a.flag_value(&["pid-file", "bundle"]));
            proptest::prop_assert!(a.positional.len() <= words.len());
        }
    }
}
