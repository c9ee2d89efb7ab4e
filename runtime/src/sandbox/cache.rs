//! Compiled components: compiled once per content digest, kept serialized on disk (keyed by digest and the
//! engine's compatibility hash) and as a pre-linked [`StepPre`] in a bounded LRU.
//!
//! Compiling a Python guest takes seconds; it happens on the blocking pool, never on an async worker, and at
//! most once per digest at a time however many requests want it (the LRU holds a once-cell per digest).
//! After a restart the serialized artifact loads in milliseconds.

use super::bindings::StepPre;
use super::state::StepState;
use super::{LoadError, PreparedComponent};
use crate::digest::Digest;
use lru::LruCache;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

type Slot = Arc<OnceCell<Arc<PreparedComponent>>>;

/// The two levels of the compiled-component cache.
pub struct ComponentCache {
    engine: Engine,
    linker: Arc<Linker<StepState>>,
    /// `<cache root>/<engine hash>/`, or none for a memory-only cache.
    dir: Option<PathBuf>,
    // A std mutex: sections are an LRU lookup or insert, never held across an await.
    slots: Mutex<LruCache<Digest, Slot>>,
}

/// Where a prepared component came from, for measurements and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Already prepared in memory.
    Memory,
    /// Deserialized from the on-disk cache.
    Disk,
    /// Compiled from its bytes.
    Compiled,
}

impl ComponentCache {
    /// A cache for `engine`, persisting under `root` when given.
    pub fn new(
        engine: Engine,
        linker: Arc<Linker<StepState>>,
        root: Option<&Path>,
        capacity: NonZeroUsize,
    ) -> std::io::Result<Self> {
        let dir = match root {
            Some(root) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                engine.precompile_compatibility_hash().hash(&mut h);
                let dir = root.join(format!("{:016x}", h.finish()));
                std::fs::create_dir_all(&dir)?;
                Some(dir)
            }
            None => None,
        };
        Ok(ComponentCache { engine, linker, dir, slots: Mutex::new(LruCache::new(capacity)) })
    }

    fn slot(&self, digest: Digest) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get_or_insert(digest, Default::default).clone()
    }

    fn artifact_path(&self, digest: &Digest) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{}.cwasm", digest.to_hex())))
    }

    /// The prepared component for `wasm`, compiling it if neither memory nor disk has it.
    pub async fn load(&self, wasm: Arc<[u8]>) -> Result<(Arc<PreparedComponent>, Origin), LoadError> {
        let digest = Digest::of(&wasm);
        let slot = self.slot(digest);
        if let Some(ready) = slot.get() {
            return Ok((ready.clone(), Origin::Memory));
        }
        let mut origin = Origin::Memory;
        let prepared = slot
            .get_or_try_init(|| async {
                if let Some(found) = self.load_from_disk(digest).await {
                    origin = Origin::Disk;
                    return Ok(found);
                }
                origin = Origin::Compiled;
                self.compile(digest, wasm).await
            })
            .await?;
        Ok((prepared.clone(), origin))
    }

    /// The prepared component for `digest` from memory or disk, without its bytes.
    pub async fn cached(&self, digest: Digest) -> Option<Arc<PreparedComponent>> {
        let slot = self.slot(digest);
        if let Some(ready) = slot.get() {
            return Some(ready.clone());
        }
        slot.get_or_try_init(|| async { self.load_from_disk(digest).await.ok_or(()) }).await.ok().cloned()
    }

    async fn load_from_disk(&self, digest: Digest) -> Option<Arc<PreparedComponent>> {
        let path = self.artifact_path(&digest)?;
        if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return None;
        }
        let engine = self.engine.clone();
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            #[expect(unsafe_code, reason = "deserializes an artifact this runtime compiled and wrote itself")]
            // SAFETY: the file lives in the runtime's own cache directory, is named by the digest of the source
            // it was compiled from, and is written atomically (temp file + rename) by `compile` below;
            // wasmtime checks that it was produced by a compatible engine before using it.
            unsafe {
                Component::deserialize_file(&engine, &path)
            }
        })
        .await;
        match loaded {
            Ok(Ok(component)) => match self.prepare(digest, component) {
                Ok(p) => {
                    tracing::debug!(%digest, elapsed = ?started.elapsed(), "component loaded from disk cache");
                    Some(p)
                }
                Err(e) => {
                    tracing::warn!(%digest, error = %e, "cached component no longer links; recompiling");
                    None
                }
            },
            Ok(Err(e)) => {
                tracing::warn!(%digest, error = %e, "unusable cached component; recompiling");
                None
            }
            Err(e) => {
                tracing::warn!(%digest, error = %e, "loading a cached component panicked");
                None
            }
        }
    }

    async fn compile(&self, digest: Digest, wasm: Arc<[u8]>) -> Result<Arc<PreparedComponent>, LoadError> {
        check_is_component(&wasm)?;
        let engine = self.engine.clone();
        let started = Instant::now();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &*wasm))
            .await
            .map_err(|e| LoadError::Internal(format!("compile task failed: {e}")))?
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        tracing::info!(%digest, elapsed = ?started.elapsed(), "component compiled");
        let prepared = self.prepare(digest, component)?;
        if let Some(path) = self.artifact_path(&digest) {
            let component = prepared.component.clone();
            // Persisting is an optimisation: a failure costs a recompile after restart, never the request.
            let written = tokio::task::spawn_blocking(move || write_artifact(&component, &path)).await;
            if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
                tracing::warn!(%digest, error = %e, "could not persist compiled component");
            }
        }
        Ok(prepared)
    }

    fn prepare(&self, digest: Digest, component: Component) -> Result<Arc<PreparedComponent>, LoadError> {
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = StepPre::new(instance_pre).map_err(|e| LoadError::World(format!("{e:#}")))?;
        Ok(Arc::new(PreparedComponent { digest, component, pre }))
    }
}

/// Rejects what is not a component before spending a compile on it, with a message that says what it is.
pub(super) fn check_is_component(wasm: &[u8]) -> Result<(), LoadError> {
    // The preamble: magic, then a version and a layer (0 for core modules, 1 for components).
    const MAGIC: &[u8] = b"\0asm";
    let layer = match wasm.get(..8) {
        Some(head) if head.starts_with(MAGIC) => Some(u16::from_le_bytes([head[6], head[7]])),
        _ => None,
    };
    if layer == Some(1) {
        Ok(())
    } else if layer == Some(0) {
        Err(LoadError::NotAComponent(
            "this is a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it with \
             `wasm-tools component new`"
                .into(),
        ))
    } else {
        Err(LoadError::NotAComponent("this is not WebAssembly (bad magic number or version)".into()))
    }
}

fn write_artifact(component: &Component, path: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
