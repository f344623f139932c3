//! `relreg push REPO/PACKAGE@VERSION FILE…|DIR`: the push flow of `crate::client::publish`
//! with a progress bar per file and a total on a terminal, plain lines otherwise, nothing
//! with `--quiet`.

use std::{io::IsTerminal as _, path::PathBuf};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    client::{
        ClientError, ClientResult, Connection, VersionRef,
        publish::{self, FileAction, FileReport, Push, PushObserver},
        upload::{DEFAULT_CHUNK_SIZE, SessionStore, UploadProgress},
    },
    pb,
};

use super::output::{Out, version_text};

/// `relreg push`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// `REPO/PACKAGE@VERSION`: the draft to create or reuse.
    target: VersionRef,
    /// Files (each pushed under its name) or one directory (every file, by relative path).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A JSON file holding the version's manifest.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The media type of the files (default: the server's).
    #[arg(long, default_value = "")]
    media_type: String,
    /// Publishes the version once its files and manifest are in.
    #[arg(long)]
    publish: bool,
    /// Bytes per upload request; an interrupted push resumes within the chunk it was in.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u64,
}

/// Runs `relreg push`.
pub(super) async fn run(args: PushArgs, conn: Connection, out: &Out) -> ClientResult<()> {
    // Local input first: a missing file or a bad manifest changes nothing on the server.
    let files = publish::collect_files(&args.files)?;
    let manifest = args
        .manifest
        .as_deref()
        .map(publish::read_manifest)
        .transpose()?;
    let request = Push {
        target: args.target,
        files,
        manifest,
        media_type: args.media_type,
        publish: args.publish,
        chunk_size: args.chunk_size,
    };
    let sessions = SessionStore::user()?;
    let observer: Box<dyn PushObserver> = if out.quiet {
        Box::new(())
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    };
    let report = publish::push(&conn, &sessions, &request, observer.as_ref()).await?;
    drop(observer);
    if out.json {
        let version = pb::to_json("Version", &report.version).map_err(ClientError::internal)?;
        out.json_value(&serde_json::json!({
            "version": version,
            "created": report.created,
            "published": request.publish,
            "files": report.files,
            "bytesSent": report.bytes_sent(),
        }))
    } else {
        let uploaded = report
            .files
            .iter()
            .filter(|f| f.action == FileAction::Uploaded)
            .count();
        out.line(&format!(
            "{}\n{uploaded} uploaded ({} bytes sent), {} already there",
            version_text(&report.version),
            report.bytes_sent(),
            report.files.len() - uploaded
        ))
    }
}

/// Plain progress lines on stderr (not a terminal).
struct Lines;

/// One file's plain lines: where its upload starts, and where it continues after a retry.
struct LineProgress(String);

impl UploadProgress for LineProgress {
    fn started(&self, offset: u64, size: u64) {
        if offset > 0 {
            eprintln!("{}: resuming at byte {offset} of {size}", self.0);
        } else {
            eprintln!("{}: uploading {size} bytes", self.0);
        }
    }
    fn sent(&self, _: u64) {}
    fn rewound(&self, offset: u64) {
        eprintln!("{}: continuing from byte {offset}", self.0);
    }
}

impl PushObserver for Lines {
    fn planned(&self, files: usize, bytes: u64) {
        eprintln!("{files} files, {bytes} bytes");
    }
    fn uploading(&self, path: &str, _: u64) -> Box<dyn UploadProgress + '_> {
        Box::new(LineProgress(path.to_owned()))
    }
    fn settled(&self, report: &FileReport) {
        let what = match report.action {
            FileAction::Unchanged => "unchanged",
            FileAction::Skipped => "already on the server",
            FileAction::Uploaded => "uploaded",
        };
        eprintln!("{}: {what} ({})", report.path, report.digest);
    }
    fn published(&self, version: &pb::Version) {
        eprintln!("published {}", version.content_digest);
    }
}

/// indicatif bars on a terminal: one per file and a total.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style("total"));
        Self { multi, total }
    }
}

fn style(prefix: &str) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix:>20!}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} {{eta}} {prefix}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// One file's bar, advancing the total too.
struct FileBar {
    bar: ProgressBar,
    total: ProgressBar,
}

impl UploadProgress for FileBar {
    fn started(&self, offset: u64, size: u64) {
        self.bar.set_length(size);
        self.bar.set_position(offset);
        self.total.inc(offset);
    }
    fn sent(&self, n: u64) {
        self.bar.inc(n);
        self.total.inc(n);
    }
    fn rewound(&self, offset: u64) {
        let back = self.bar.position().saturating_sub(offset);
        self.bar.set_position(offset);
        self.total
            .set_position(self.total.position().saturating_sub(back));
    }
}

impl Drop for FileBar {
    fn drop(&mut self) {
        self.bar.finish();
    }
}

impl PushObserver for Bars {
    fn planned(&self, _: usize, bytes: u64) {
        self.total.set_length(bytes);
    }
    fn uploading(&self, path: &str, size: u64) -> Box<dyn UploadProgress + '_> {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(size));
        bar.set_style(style(""));
        bar.set_prefix(path.to_owned());
        Box::new(FileBar {
            bar,
            total: self.total.clone(),
        })
    }
    fn settled(&self, report: &FileReport) {
        if report.action != FileAction::Uploaded {
            self.total.inc(report.size);
            let _ = self
                .multi
                .println(format!("{}: already on the server", report.path));
        }
    }
    fn published(&self, version: &pb::Version) {
        let _ = self
            .multi
            .println(format!("published {}", version.content_digest));
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.total.finish();
    }
}
