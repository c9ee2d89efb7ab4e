//! `alur plugin new <name> --lang rust|python|js|c`: a new plugin project from the templates embedded at build
//! time (see `runtime/build.rs`).
//!
//! The copy follows the rules the templates are written to: every file of `sdk/templates/<lang>/` into
//! `<dir>/<name>/` with `{{name}}` (kebab-case) and `{{name_snake}}` replaced in contents and file names;
//! `sdk/wit/alur-step.wit` as `wit/alur-step.wit`; each file that `SDK_FILES` lists (relative to `sdk/<lang>/`)
//! at the same relative path; `SDK_FILES` itself not at all; executable files (build.sh, test.sh) 0755.
//! The Rust template depends on the SDK crate by path, `{{sdk_path}}`: this checkout's `sdk/` unless `--sdk`.

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// One embedded file.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Path relative to the template (or to `sdk/<lang>/`), `/`-separated.
    pub path: &'static str,
    /// The bytes.
    pub contents: &'static [u8],
    /// Whether the source was executable.
    pub executable: bool,
}

/// One language's template.
#[derive(Debug)]
pub struct Template {
    /// The folder name under `sdk/templates/`.
    pub lang: &'static str,
    /// The template's files, `SDK_FILES` excluded.
    pub files: &'static [EmbeddedFile],
    /// The SDK files its `SDK_FILES` lists.
    pub sdk_files: &'static [EmbeddedFile],
}

include!(concat!(env!("OUT_DIR"), "/scaffold_files.rs"));

/// The guest languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, on the alur-sdk crate.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
    /// C, built with clang and alur-c.
    C,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }
}

/// `alur plugin new` options.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, kebab-case: a-z, 0-9 and '-', starting with a letter.
    pub name: String,
    /// The language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The folder to create the project in (as <dir>/<name>/).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Rust only: the alur-sdk crate to depend on (default: the sdk/ of the checkout this binary was built from).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// The SDK crate of the checkout this binary was built from.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

/// Runs `alur plugin new`; returns the exit code.
pub fn run(args: NewArgs) -> anyhow::Result<i32> {
    let dest = args.dir.join(&args.name);
    let sdk = if args.lang == Lang::Rust { Some(sdk_path(args.sdk.as_deref())?) } else { None };
    let written = scaffold(&args.name, args.lang, &dest, sdk.as_deref())?;
    println!("created {} ({} files)", dest.display(), written.len());
    println!();
    println!("next:");
    for line in next_steps(&args.name, args.lang, &dest) {
        println!("  {line}");
    }
    Ok(0)
}

/// `--sdk`, or the default, checked and made absolute (the scaffold may be built from anywhere).
fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = given.map(Path::to_path_buf).unwrap_or_else(default_sdk);
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "no alur-sdk crate at {}{}",
            path.display(),
            if given.is_none() {
                " (where this binary was built); pass --sdk <path to Alur's sdk/ folder>"
            } else {
                ""
            }
        )
    })?;
    if !text.lines().any(|l| l.replace(' ', "") == "name=\"alur-sdk\"") {
        bail!("{} is not the alur-sdk crate's manifest", manifest.display());
    }
    Ok(std::fs::canonicalize(&path)?)
}

/// Kebab-case: what a plugin name, a Rust crate, a Python module (as snake_case) and a C identifier accept.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !ok {
        bail!(
            "a plugin name is kebab-case: a-z, 0-9 and single '-', starting with a letter, at most 64 (got {name:?})"
        );
    }
    Ok(())
}

/// Writes the project into `dest` (which must not exist); the relative paths written.
pub fn scaffold(name: &str, lang: Lang, dest: &Path, sdk: Option<&Path>) -> anyhow::Result<Vec<String>> {
    check_name(name)?;
    let template = TEMPLATES
        .iter()
        .find(|t| t.lang == lang.dir())
        .with_context(|| format!("this build of alur has no {} template", lang.dir()))?;
    if dest.symlink_metadata().is_ok() {
        bail!("{} already exists: refusing to overwrite it", dest.display());
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // create_dir, not create_dir_all: it fails if the folder appeared meanwhile, so nothing is overwritten.
    std::fs::create_dir(dest).with_context(|| format!("cannot create {}", dest.display()))?;

    let snake = name.replace('-', "_");
    let sdk_toml = sdk.map(|p| toml_escape(&p.to_string_lossy())).unwrap_or_default();
    let fill = |text: &str| {
        text.replace("{{name_snake}}", &snake).replace("{{name}}", name).replace("{{sdk_path}}", &sdk_toml)
    };
    let mut written = Vec::new();
    let mut write = |rel: &str, contents: &[u8], executable: bool| -> anyhow::Result<()> {
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, contents).with_context(|| format!("cannot write {}", target.display()))?;
        set_mode(&target, executable)?;
        written.push(rel.to_string());
        Ok(())
    };
    for file in template.files {
        let rel = fill(file.path);
        match std::str::from_utf8(file.contents) {
            Ok(text) => write(&rel, fill(text).as_bytes(), file.executable)?,
            Err(_) => write(&rel, file.contents, file.executable)?,
        }
    }
    write("wit/alur-step.wit", WIT, false)?;
    for file in template.sdk_files {
        write(file.path, file.contents, file.executable)?;
    }
    Ok(written)
}

/// A TOML basic string's contents.
fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(unix)]
fn set_mode(path: &Path, executable: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: bool) -> anyhow::Result<()> {
    Ok(())
}

/// The commands to build, test, run and upload the new plugin, from the current directory.
fn next_steps(name: &str, lang: Lang, dest: &Path) -> Vec<String> {
    let dir = dest.display();
    let (test, build, wasm, input) = match lang {
        Lang::Rust => (
            "cargo test".to_string(),
            "cargo build --release --target wasm32-wasip2".to_string(),
            format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_")),
            r#"{"request": {"id": "PR-1", "department": "ops", "amount_cents": 120000}}"#,
        ),
        Lang::Python => ("./test.sh".into(), "./build.sh".into(), format!("{name}.wasm"), r#"{"name": "Ana"}"#),
        Lang::Js => (
            "./test.sh".into(),
            "./build.sh".into(),
            format!("{name}.wasm"),
            r#"{"contact": {"email": "Ana@Acme.io", "name": " Ana  Lima "}}"#,
        ),
        Lang::C => (
            "./test.sh".into(),
            "./build.sh".into(),
            format!("{name}.wasm"),
            r#"{"order": {"id": "SO-1", "lines": [{"sku": "WID-1", "quantity": 2, "unit_price": 1250}]}}"#,
        ),
    };
    vec![
        format!("cd {dir}"),
        format!("{test}    # unit tests, natively"),
        format!("{build}    # the component: {wasm}"),
        format!("alur step run {wasm} --input '{input}'"),
        format!("alur plugin push {name} {wasm}    # to the server at $ALUR_URL, with $ALUR_API_KEY"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_an_embedded_template() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let t = TEMPLATES.iter().find(|t| t.lang == lang.dir()).expect("embedded");
            assert!(!t.files.is_empty());
            assert!(t.files.iter().all(|f| f.path != "SDK_FILES"), "{}: SDK_FILES is not copied", t.lang);
        }
        assert!(std::str::from_utf8(WIT).unwrap().contains("world step"));
    }

    #[test]
    fn names_are_kebab_case() {
        for good in ["a", "crm-lead-score", "x2-y"] {
            check_name(good).unwrap();
        }
        for bad in ["", "Lead", "-a", "a-", "a--b", "a_b", "2fa", "a/b", ".."] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn python_scaffold_substitutes_and_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("greet-visitor");
        let files = scaffold("greet-visitor", Lang::Python, &dest, None).unwrap();
        assert!(files.contains(&"wit/alur-step.wit".to_string()) && files.contains(&"alur_step.py".to_string()));
        let build = std::fs::read_to_string(dest.join("build.sh")).unwrap();
        assert!(build.contains("greet-visitor.wasm") && !build.contains("{{"), "{build}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |f: &str| std::fs::metadata(dest.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!((mode("build.sh"), mode("test.sh"), mode("app.py")), (0o755, 0o755, 0o644));
        }
        assert!(!dest.join("SDK_FILES").exists());
        let again = scaffold("greet-visitor", Lang::Python, &dest, None).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
    }

    #[test]
    fn rust_scaffold_points_at_the_sdk() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("budget-check");
        let sdk = sdk_path(None).unwrap();
        scaffold("budget-check", Lang::Rust, &dest, Some(&sdk)).unwrap();
        let manifest = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"budget-check\""), "{manifest}");
        assert!(manifest.contains(&format!("path = \"{}\"", toml_escape(&sdk.to_string_lossy()))), "{manifest}");
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        assert!(dest.join("src/lib.rs").is_file() && dest.join("wit/alur-step.wit").is_file());
        assert!(sdk_path(Some(dir.path())).is_err(), "a folder without the SDK's manifest is refused");
    }
}
