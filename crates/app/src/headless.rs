//! The shell without a window: real egui input events in, the real frame (egui-wgpu
//! painting the engine's pane textures) rendered into an offscreen texture. The interaction
//! tests drive the shell through it, and `voxmark bench --ops frame` times whole frames.

use super::shell::Shell;
use eframe::egui;
use eframe::egui_wgpu::{Renderer, RendererOptions, ScreenDescriptor};
use voxmark_volume::error::Result;

/// An offscreen shell window of a fixed size (pixels per point = 1).
pub struct Headless {
    pub shell: Shell,
    pub ctx: egui::Context,
    renderer: Renderer,
    pub size: [u32; 2],
    target: wgpu::Texture,
    time: f64,
    pub modifiers: egui::Modifiers,
    pointer: egui::Pos2,
}

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

impl Headless {
    pub fn new(shell: Shell, size: [u32; 2]) -> Self {
        let gpu = shell.gpu;
        let renderer = Renderer::new(&gpu.device, FORMAT, RendererOptions::default());
        let target = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("headless window"),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        Self {
            shell,
            ctx: egui::Context::default(),
            renderer,
            size,
            target,
            time: 0.0,
            modifiers: egui::Modifiers::NONE,
            pointer: egui::Pos2::ZERO,
        }
    }

    /// Runs one frame with `events` and paints it.
    pub fn frame(&mut self, events: Vec<egui::Event>) -> Result<()> {
        self.time += 1.0 / 60.0;
        let raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(self.size[0] as f32, self.size[1] as f32),
            )),
            time: Some(self.time),
            events: std::iter::once(egui::Event::ModifiersChanged(self.modifiers))
                .chain(events)
                .collect(),
            ..Default::default()
        };
        let Self {
            shell,
            ctx,
            renderer,
            ..
        } = self;
        let out = ctx.run_ui(raw, |ui| shell.ui(ui, renderer));
        let gpu = self.shell.gpu;
        let prims = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        for (id, deltas) in &out.textures_delta.set {
            for delta in deltas {
                self.renderer
                    .update_texture(&gpu.device, &gpu.queue, *id, delta);
            }
        }
        let screen = ScreenDescriptor {
            size_in_pixels: self.size,
            pixels_per_point: out.pixels_per_point,
        };
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("headless egui"),
            });
        let cmds = self
            .renderer
            .update_buffers(&gpu.device, &gpu.queue, &mut enc, &prims, &screen);
        let view = self
            .target
            .create_view(&wgpu::TextureViewDescriptor::default());
        {
            let mut pass = enc
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("egui"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        resolve_target: None,
                        depth_slice: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    depth_stencil_attachment: None,
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                })
                .forget_lifetime();
            self.renderer.render(&mut pass, &prims, &screen);
        }
        gpu.queue.submit(cmds.into_iter().chain([enc.finish()]));
        let mut deltas = out.textures_delta;
        for id in &deltas.free {
            self.renderer.free_texture(id);
        }
        deltas.clear();
        Ok(())
    }

    /// The open document's labels (u8, i fastest), read back from its session.
    pub fn labels(&self) -> Result<Vec<u8>> {
        let doc = self.shell.doc.as_ref().ok_or_else(|| {
            voxmark_volume::Error::NotFound("the offscreen shell has no open document".into())
        })?;
        Ok(doc.state.session.labels()?.into_owned())
    }

    /// `n` frames without input (loading, settling).
    pub fn idle(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            self.frame(Vec::new())?;
        }
        Ok(())
    }

    /// Idle frames until `done` holds (a save or a load on a worker thread finished), at
    /// most `max`; returns whether it held.
    pub fn frames_until(&mut self, max: usize, done: impl Fn(&Shell) -> bool) -> Result<bool> {
        for _ in 0..max {
            if done(&self.shell) {
                return Ok(true);
            }
            self.frame(Vec::new())?;
        }
        Ok(done(&self.shell))
    }

    /// Pointer moves to `p` (one frame).
    pub fn move_to(&mut self, p: egui::Pos2) -> Result<()> {
        self.pointer = p;
        self.frame(vec![egui::Event::PointerMoved(p)])
    }

    /// Button press or release at the pointer (one frame).
    pub fn button(&mut self, button: egui::PointerButton, pressed: bool) -> Result<()> {
        let ev = egui::Event::PointerButton {
            pos: self.pointer,
            button,
            pressed,
            modifiers: self.modifiers,
        };
        self.frame(vec![ev])
    }

    /// Press at `from`, move through `path`, release at the last point.
    pub fn drag(
        &mut self,
        button: egui::PointerButton,
        from: egui::Pos2,
        path: &[egui::Pos2],
    ) -> Result<()> {
        self.move_to(from)?;
        self.button(button, true)?;
        for p in path {
            self.move_to(*p)?;
        }
        self.button(button, false)
    }

    /// A click (press + release) at `p`.
    pub fn click(&mut self, p: egui::Pos2) -> Result<()> {
        self.move_to(p)?;
        self.button(egui::PointerButton::Primary, true)?;
        self.button(egui::PointerButton::Primary, false)
    }

    /// Mouse wheel of `lines` notches at the pointer (positive: away from the user).
    pub fn wheel(&mut self, lines: f32, modifiers: egui::Modifiers) -> Result<()> {
        self.frame(vec![egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, lines),
            modifiers,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        }])
    }

    /// A key press and release with `modifiers`.
    pub fn key(&mut self, key: egui::Key, modifiers: egui::Modifiers) -> Result<()> {
        let ev = |pressed| egui::Event::Key {
            key,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers,
        };
        self.frame(vec![ev(true)])?;
        self.frame(vec![ev(false)])
    }

    /// The last frame's pixels (RGBA8, rows top to bottom).
    pub fn read_rgba(&self) -> Result<Vec<u8>> {
        voxmark_render::offscreen::read_texture(self.shell.gpu, &self.target, self.size)
    }
}
