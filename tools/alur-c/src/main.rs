//! `alur-c`: the two steps of a C step plugin's build that need the component model, without a wit-bindgen or
//! wasm-tools CLI install.
//!
//! ```text
//! alur-c bindings <wit-dir> <out-dir>                generates step.c, step.h, step_component_type.o for world `step`
//! alur-c componentize <core.wasm> -o <component.wasm> wraps a wasm32-wasi reactor module into a component
//! ```
//!
//! In between, clang compiles the plugin, the SDK helper and `step.c`, and links `step_component_type.o`, whose
//! custom section carries the world's type so `componentize` knows which imports and exports to lift.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

const USAGE: &str = "usage:
  alur-c bindings <wit-dir> <out-dir> [--world NAME]
  alur-c componentize <core.wasm> -o <component.wasm>
  alur-c --version";

fn main() {
    if let Err(e) = run(std::env::args().skip(1).collect()) {
        eprintln!("alur-c: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("bindings") => {
            let (positional, world) = split_option(args.collect(), "--world")?;
            let [wit, out] = <[String; 2]>::try_from(positional).map_err(|_| anyhow::anyhow!("{USAGE}"))?;
            let written = bindings(Path::new(&wit), Path::new(&out), world.as_deref().unwrap_or("step"))?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(())
        }
        Some("componentize") => {
            let (positional, output) = split_option(args.collect(), "-o")?;
            let ([input], Some(output)) =
                (<[String; 1]>::try_from(positional).map_err(|_| anyhow::anyhow!("{USAGE}"))?, output)
            else {
                bail!("{USAGE}");
            };
            let size = componentize(Path::new(&input), Path::new(&output))?;
            println!("{output}: {size} bytes");
            Ok(())
        }
        Some("--version" | "-V") => {
            println!(
                "alur-c {} (wit-bindgen-c 0.63.0, wit-component 0.262.0, adapter 48.0.8)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Some("--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

/// Takes `flag VALUE` out of `args`; the rest stay positional, in order.
fn split_option(args: Vec<String>, flag: &str) -> Result<(Vec<String>, Option<String>)> {
    let mut positional = Vec::new();
    let mut value = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == flag {
            value = Some(it.next().with_context(|| format!("{flag} needs a value"))?);
        } else if arg.starts_with('-') {
            bail!("unknown option {arg}\n{USAGE}");
        } else {
            positional.push(arg);
        }
    }
    Ok((positional, value))
}

/// Generates the C bindings of `world` from the WIT package in `wit` into `out`; the paths written.
fn bindings(wit: &Path, out: &Path, world: &str) -> Result<Vec<PathBuf>> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit).with_context(|| format!("reading WIT from {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = Files::default();
    // Default options: the component type object is wanted (componentize reads it), UTF-8 strings.
    let mut generator = wit_bindgen_c::Opts::default().build();
    generator.generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    for (name, contents) in files.iter() {
        let path = out.join(name);
        // Rewrite only on change, so a make-style build does not recompile the bindings every time.
        if std::fs::read(&path).ok().as_deref() != Some(contents) {
            std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        }
        written.push(path);
    }
    Ok(written)
}

/// Lifts a wasm32-wasi reactor core module (linked with the bindings' component type object) into a component,
/// adapting its WASI preview1 imports to preview2 with wasmtime's reactor adapter; the component's size.
fn componentize(input: &Path, output: &Path) -> Result<usize> {
    let module = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    if module.get(0..4) != Some(b"\0asm") {
        bail!("{} is not a WebAssembly module", input.display());
    }
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .context("the module carries no component type: link the bindings' step_component_type.o")?
        .validate(true)
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
        .with_context(|| format!("encoding a component from {}", input.display()))?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(output, &component).with_context(|| format!("writing {}", output.display()))?;
    Ok(component.len())
}
