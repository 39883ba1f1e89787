//! The native window: eframe (winit + egui-wgpu) running on the engine's own wgpu device
//! (`WgpuSetup::Existing`), so the pane textures the engine renders are shown without any
//! copy. `voxmark view` lands here.

use super::document::OpenRequest;
use super::shell::{ScreenshotPlan, Shell};
use eframe::egui;
use eframe::egui_wgpu::{WgpuConfiguration, WgpuSetup, WgpuSetupExisting};
use std::path::PathBuf;
use voxmark_gpu::GpuContext;

struct NativeApp {
    shell: Shell,
    title: String,
}

impl eframe::App for NativeApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let Some(rs) = frame.wgpu_render_state() else {
            ui.label("voxmark needs the wgpu renderer");
            return;
        };
        let renderer = rs.renderer.clone();
        {
            let mut r = renderer.write();
            self.shell.ui(ui, &mut r);
        }
        let title = match &self.shell.doc {
            Some(d) => format!(
                "voxmark — {}{}",
                d.title,
                if d.state.dirty { " •" } else { "" }
            ),
            None => "voxmark".into(),
        };
        if title != self.title {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }
}

/// Opens the window on `req`; with `screenshot`, renders that many frames after loading,
/// writes the window's picture and exits (a failed load is then an error exit).
pub fn run(
    req: OpenRequest,
    project: Option<super::project_session::ProjectSession>,
    case: Option<String>,
    screenshot: Option<(PathBuf, u32)>,
) -> anyhow::Result<()> {
    let gpu: &'static GpuContext = Box::leak(Box::new(GpuContext::new()?));
    eprintln!("voxmark view on {}", gpu.report().name);
    let wgpu_options = WgpuConfiguration {
        wgpu_setup: WgpuSetup::Existing(WgpuSetupExisting {
            instance: gpu.instance.clone(),
            adapter: gpu.adapter.clone(),
            device: gpu.device.clone(),
            queue: gpu.queue.clone(),
        }),
        ..Default::default()
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([640.0, 480.0])
            .with_title("voxmark")
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        ..Default::default()
    };
    let mut shell = match project {
        Some(session) => {
            let mut s = Shell::empty(gpu);
            match &case {
                Some(id) => s.start_project_case(session, id),
                None => s.start_project(session, req.path.is_some().then_some(req)),
            }
            s
        }
        None => Shell::new(gpu, req),
    };
    if let Some((out, frames)) = screenshot {
        shell.screenshot = Some(ScreenshotPlan::new(out, frames));
        shell.sync_frames = true;
    }
    let exit = shell.exit.clone();
    let frame_ms = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    shell.frame_log = Some(frame_ms.clone());
    eframe::run_native(
        "voxmark",
        options,
        Box::new(move |_cc| {
            Ok(Box::new(NativeApp {
                shell,
                title: String::new(),
            }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    if let Ok(v) = frame_ms.lock() {
        report_frames(&v, &gpu.report().name);
    }
    let result = exit.lock().map(|mut e| e.take()).unwrap_or(None);
    match result {
        Some(Err(e)) => Err(anyhow::anyhow!(e)),
        _ => Ok(()),
    }
}

fn report_frames(ms: &[f64], adapter: &str) {
    if ms.len() < 3 {
        return;
    }
    // The first frames compile pipelines and upload fonts.
    let mut v: Vec<f64> = ms[2..].to_vec();
    v.sort_by(f64::total_cmp);
    eprintln!(
        "frames: {} · median {:.2} ms · max {:.2} ms (UI + GPU work, waited for) on {adapter}",
        v.len(),
        v[v.len() / 2],
        v[v.len() - 1]
    );
}
