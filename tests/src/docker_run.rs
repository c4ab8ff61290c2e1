//! `docker run --runtime=ids-runc …` on a private daemon, with ids-runc's settings given as the
//! container's env (`IDS_RUNC_MODE`, `_MONITOR`, `_PROFILE`, `_ACTION`), as a user of docker 20.10
//! gives them (it has no `--annotation`).

use std::process::Output;

use crate::dockerd::Dockerd;

/// One `docker run` to be shaped, then started with [`DockerRun::detached`], [`DockerRun::ok`] or
/// [`DockerRun::output`].
pub struct DockerRun<'a> {
    daemon: &'a Dockerd,
    options: Vec<String>,
    env: Vec<String>,
    image: String,
    command: Vec<String>,
}

impl<'a> DockerRun<'a> {
    /// `docker run --runtime=ids-runc IMAGE`, with the image's own command unless one is given.
    pub fn new(daemon: &'a Dockerd, image: &str) -> Self {
        DockerRun {
            daemon,
            options: Vec::new(),
            env: Vec::new(),
            image: image.to_owned(),
            command: Vec::new(),
        }
    }

    /// `-e IDS_RUNC_MODE=mode`.
    pub fn mode(self, mode: &str) -> Self {
        self.env(&format!("IDS_RUNC_MODE={mode}"))
    }

    /// `-e IDS_RUNC_MONITOR=monitor`.
    pub fn monitor(self, monitor: &str) -> Self {
        self.env(&format!("IDS_RUNC_MONITOR={monitor}"))
    }

    /// `-e IDS_RUNC_PROFILE=profile`.
    pub fn profile(self, profile: &str) -> Self {
        self.env(&format!("IDS_RUNC_PROFILE={profile}"))
    }

    /// `-e IDS_RUNC_ACTION=action`.
    pub fn action(self, action: &str) -> Self {
        self.env(&format!("IDS_RUNC_ACTION={action}"))
    }

    /// `-e KEY=VALUE`, in the order given (of two values for one key, the container sees the last).
    pub fn env(mut self, key_value: &str) -> Self {
        self.env.push(key_value.to_owned());
        self
    }

    /// `--name name`.
    pub fn name(self, name: &str) -> Self {
        self.option("--name").option(name)
    }

    /// `--rm`: docker removes the container when it ends.
    pub fn rm(self) -> Self {
        self.option("--rm")
    }

    /// Any other option of `docker run` (`--restart=always`, `--security-opt`, …).
    pub fn option(mut self, option: &str) -> Self {
        self.options.push(option.to_owned());
        self
    }

    /// The command and its arguments.
    pub fn cmd(mut self, words: &[&str]) -> Self {
        self.command = words.iter().map(|w| w.to_string()).collect();
        self
    }

    /// `sh -c script`.
    pub fn sh(self, script: &str) -> Self {
        self.cmd(&["sh", "-c", script])
    }

    /// Starts the container in the background (`-d`), asserts that docker did, and returns its id.
    #[track_caller]
    pub fn detached(mut self) -> String {
        self.options.insert(0, "-d".into());
        self.daemon.docker_ok(&self.words())
    }

    /// Runs the container to its end, asserts success, and returns its trimmed output.
    #[track_caller]
    pub fn ok(self) -> String {
        self.daemon.docker_ok(&self.words())
    }

    /// Runs the container to its end and returns what docker gave, success or not.
    pub fn output(self) -> Output {
        self.daemon.docker(&self.words())
    }

    fn words(&self) -> Vec<&str> {
        let mut words = vec!["run", "--runtime=ids-runc"];
        words.extend(self.options.iter().map(String::as_str));
        for env in &self.env {
            words.extend(["-e", env.as_str()]);
        }
        words.push(&self.image);
        words.extend(self.command.iter().map(String::as_str));
        words
    }
}
