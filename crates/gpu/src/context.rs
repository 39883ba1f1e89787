//! `GpuContext`: one adapter, device and queue, chosen the same way everywhere.
//!
//! Backends come from `WGPU_BACKEND` (e.g. `vulkan`); without it voxmark asks for the
//! primary backends (Vulkan/Metal/DX12) only, so it never silently lands on GL. An adapter
//! can be picked by name with `WGPU_ADAPTER_NAME` (substring, case-insensitive). The device
//! is created with the adapter's own limits, so large storage buffers are available.

use serde::Serialize;
use voxmark_volume::error::{Error, Result};

/// What `voxmark gpu` and benchmark tables print about the adapter.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_texture_dimension_3d: u32,
}

/// The engine's device. Every kernel takes `&GpuContext` (or its device/queue), so tests
/// and the desktop shell can inject their own.
pub struct GpuContext {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

fn backends_from_env() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
}

impl GpuContext {
    /// Selects an adapter (see module docs) and creates a device with its limits.
    pub fn new() -> Result<Self> {
        pollster::block_on(Self::new_async())
    }

    /// Async variant of [`GpuContext::new`].
    pub async fn new_async() -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends_from_env();
        desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
        let instance = wgpu::Instance::new(desc);
        let adapter = Self::pick_adapter(&instance).await?;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("voxmark"),
                required_features: wgpu::Features::empty(),
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::NoGpu(format!("cannot create device: {e}")))?;
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
        })
    }

    async fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
        let backends = backends_from_env();
        if let Ok(want) = std::env::var("WGPU_ADAPTER_NAME") {
            let want = want.to_lowercase();
            let all = instance.enumerate_adapters(backends).await;
            let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
            return all
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&want))
                .ok_or_else(|| {
                    Error::NoGpu(format!(
                        "WGPU_ADAPTER_NAME={want} matches none of the adapters: {names:?}"
                    ))
                });
        }
        instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| {
                Error::NoGpu(format!(
                    "no GPU adapter for backends {backends:?} ({e}); on a machine without a GPU install Mesa's lavapipe (apt install mesa-vulkan-drivers) and set WGPU_BACKEND=vulkan"
                ))
            })
    }

    /// Adapter name, backend, type and the limits that matter for volumes.
    pub fn report(&self) -> AdapterReport {
        let info = self.adapter.get_info();
        let limits = self.device.limits();
        AdapterReport {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_texture_dimension_3d: limits.max_texture_dimension_3d,
        }
    }

    /// True for software rasterizers (lavapipe, WARP, SwiftShader): correct but slow.
    pub fn is_software(&self) -> bool {
        self.adapter.get_info().device_type == wgpu::DeviceType::Cpu
    }

    /// Blocks until the queue's submitted work is done, adding the time to [`wait_clock`]
    /// (`what` names the wait in an error).
    pub fn wait(&self, what: &str) -> Result<()> {
        let t = std::time::Instant::now();
        let r = self
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("{what}: {e}")));
        WAITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WAIT_NS.fetch_add(
            t.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        r.map(|_| ())
    }

    /// Runs `f` inside a validation + out-of-memory error scope and turns a captured
    /// error into [`Error::Gpu`] instead of a panic.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        match (v, o) {
            (Some(e), _) => Err(Error::Gpu(format!("{what}: {e}"))),
            (None, Some(e)) => Err(Error::GpuOutOfMemory {
                what: what.to_string(),
                message: e.to_string(),
            }),
            (None, None) => Ok(out),
        }
    }
}

static WAITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static WAIT_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Process-wide count of host waits on the GPU ([`GpuContext::wait`]: read-backs, upload
/// flushes, kernels that wait between passes) and the time spent in them: what a timing
/// breakdown subtracts to tell host work from GPU work plus transfers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WaitClock {
    pub waits: u64,
    pub ns: u64,
}

/// The [`WaitClock`] now; differences of two readings time a span of work.
pub fn wait_clock() -> WaitClock {
    WaitClock {
        waits: WAITS.load(std::sync::atomic::Ordering::Relaxed),
        ns: WAIT_NS.load(std::sync::atomic::Ordering::Relaxed),
    }
}
