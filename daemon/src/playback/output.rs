//! Where the mixer's audio goes: a cpal device, or the `none` output that runs the same
//! clock without a device. A cpal stream is not `Send` on every platform, so one output
//! thread owns it and takes commands over a channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{bounded, unbounded, Sender};
use serde::Serialize;

use super::mixer::Mixer;

/// The name that selects the device-less output.
pub const NONE_DEVICE: &str = "none";
/// Rate and channels of the `none` output.
const NONE_RATE: u32 = 48_000;
const BUFFER_FRAMES: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub is_default: bool,
    pub sample_rate: Option<u32>,
}

/// An open output, as reported in `status` and `audio_devices`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenOutput {
    pub name: String,
    pub sample_rate: u32,
    pub channels: u16,
    pub sample_format: String,
}

/// Output devices of the default host (ALSA on Linux), default first, plus `none`.
pub fn list_devices() -> Vec<DeviceInfo> {
    let host = cpal::default_host();
    let default_name = host.default_output_device().and_then(|d| d.name().ok());
    let mut devices: Vec<DeviceInfo> = host
        .output_devices()
        .map(|it| {
            it.filter_map(|d| {
                let name = d.name().ok()?;
                let sample_rate = d.default_output_config().ok().map(|c| c.sample_rate().0);
                Some(DeviceInfo {
                    is_default: Some(&name) == default_name.as_ref(),
                    name,
                    sample_rate,
                })
            })
            .collect()
        })
        .unwrap_or_default();
    devices.sort_by_key(|d| !d.is_default);
    devices.push(DeviceInfo {
        name: NONE_DEVICE.into(),
        is_default: false,
        sample_rate: Some(NONE_RATE),
    });
    devices
}

/// Set by the stream's error callback; the engine polls it.
pub type ErrorSlot = Arc<Mutex<Option<String>>>;

enum Command {
    Open {
        device: Option<String>,
        reply: Sender<Result<OpenOutput, String>>,
    },
    Run(bool),
}

/// Handle to the output thread.
pub struct Output {
    commands: Sender<Command>,
}

/// A device output holds its stream only while audio should flow: dropping it on pause
/// and stop costs nothing to rebuild, uses no CPU while idle, and works on devices whose
/// driver ignores pause (ALSA's `file` and `null` plugins keep pulling frames).
struct DeviceOutput {
    device: cpal::Device,
    config: cpal::StreamConfig,
    format: cpal::SampleFormat,
    stream: Option<cpal::Stream>,
}

enum Active {
    Device(DeviceOutput),
    Clock {
        running: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
        /// The clock's thread, parked while the clock does not run.
        thread: thread::Thread,
    },
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Active::Clock { stop, thread, .. } = self {
            stop.store(true, Ordering::Relaxed);
            thread.unpark();
        }
    }
}

impl Output {
    pub fn start(mixer: Arc<Mutex<Mixer>>, errors: ErrorSlot) -> Output {
        let (commands, rx) = unbounded::<Command>();
        thread::Builder::new()
            .name("audio-output".into())
            .spawn(move || {
                let mut active: Option<Active> = None;
                for command in rx {
                    match command {
                        Command::Open { device, reply } => {
                            drop(active.take()); // close the old output first
                            let opened = open(device.as_deref(), &mixer);
                            let _ = reply.send(opened.as_ref().map(|(_, info)| info.clone()).map_err(Clone::clone));
                            active = opened.ok().map(|(a, _)| a);
                        }
                        Command::Run(run) => match &mut active {
                            Some(Active::Device(out)) if run && out.stream.is_none() => {
                                match build_stream(&out.device, &out.config, out.format, &mixer, &errors)
                                    .map_err(|e| e.to_string())
                                    .and_then(|stream| stream.play().map(|_| stream).map_err(|e| e.to_string()))
                                {
                                    Ok(stream) => out.stream = Some(stream),
                                    Err(e) => *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
                                }
                            }
                            Some(Active::Device(out)) if !run => out.stream = None,
                            Some(Active::Device(_)) => {}
                            Some(Active::Clock { running, thread, .. }) => {
                                running.store(run, Ordering::Relaxed);
                                thread.unpark();
                            }
                            None => {}
                        },
                    }
                }
            })
            .expect("spawn audio output thread");
        Output { commands }
    }

    /// Opens `device` (`None` = the default device, `"none"` = no device), replacing the
    /// current output. The stream starts paused; see [`Output::run`].
    pub fn open(&self, device: Option<&str>) -> Result<OpenOutput, String> {
        let (reply, rx) = bounded(1);
        self.commands
            .send(Command::Open {
                device: device.map(str::to_owned),
                reply,
            })
            .map_err(|_| "the audio output thread is gone".to_owned())?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the audio device did not answer".to_owned())?
    }

    /// Starts or pauses the device (a paused device costs no CPU).
    pub fn run(&self, run: bool) {
        let _ = self.commands.send(Command::Run(run));
    }
}

fn open(device: Option<&str>, mixer: &Arc<Mutex<Mixer>>) -> Result<(Active, OpenOutput), String> {
    if device == Some(NONE_DEVICE) {
        return Ok(open_clock(mixer));
    }
    let host = cpal::default_host();
    let device = match device {
        None => host.default_output_device().ok_or("no audio output device found")?,
        Some(name) => host
            .output_devices()
            .map_err(|e| e.to_string())?
            .find(|d| d.name().is_ok_and(|n| n == name))
            .ok_or_else(|| format!("no audio output device named {name:?}"))?,
    };
    let name = device.name().map_err(|e| e.to_string())?;
    let config = pick_config(&device).map_err(|e| format!("{name}: {e}"))?;
    let rate = config.sample_rate().0;
    let channels = config.channels();
    let format = config.sample_format();
    let stream_config = cpal::StreamConfig {
        channels,
        sample_rate: config.sample_rate(),
        buffer_size: cpal::BufferSize::Fixed(BUFFER_FRAMES),
    };
    reset_mixer_rate(mixer, rate);
    // Build once to prove the device works; the stream itself is made on `run`.
    let config = match probe_stream(&device, &stream_config, format) {
        Ok(()) => stream_config,
        Err(_) => {
            // Some devices refuse a fixed buffer size; take theirs.
            let flexible = cpal::StreamConfig {
                buffer_size: cpal::BufferSize::Default,
                ..stream_config
            };
            probe_stream(&device, &flexible, format).map_err(|e| format!("{name}: {e}"))?;
            flexible
        }
    };
    let info = OpenOutput {
        name,
        sample_rate: rate,
        channels,
        sample_format: format.to_string(),
    };
    Ok((
        Active::Device(DeviceOutput {
            device,
            config,
            format,
            stream: None,
        }),
        info,
    ))
}

/// Prefers 48 kHz (then 44.1 kHz), stereo, 16-bit or float.
fn pick_config(device: &cpal::Device) -> Result<cpal::SupportedStreamConfig, String> {
    let ranges: Vec<_> = device.supported_output_configs().map_err(|e| e.to_string())?.collect();
    let usable = |f: cpal::SampleFormat| matches!(f, cpal::SampleFormat::I16 | cpal::SampleFormat::F32);
    for rate in [48_000, 44_100] {
        for channels in [2, 1] {
            for format in [cpal::SampleFormat::I16, cpal::SampleFormat::F32] {
                if let Some(r) = ranges.iter().find(|r| {
                    r.channels() == channels
                        && r.sample_format() == format
                        && r.min_sample_rate().0 <= rate
                        && rate <= r.max_sample_rate().0
                }) {
                    return Ok(r.with_sample_rate(cpal::SampleRate(rate)));
                }
            }
        }
    }
    let default = device.default_output_config().map_err(|e| e.to_string())?;
    if usable(default.sample_format()) {
        Ok(default)
    } else {
        Err(format!(
            "no supported sample format (device offers {})",
            default.sample_format()
        ))
    }
}

fn reset_mixer_rate(mixer: &Arc<Mutex<Mixer>>, rate: u32) {
    let mut m = mixer.lock().unwrap_or_else(|e| e.into_inner());
    if m.rate() != rate {
        m.set_rate(rate);
    }
}

/// Builds a stream that only writes silence, and drops it: whether the device takes `config`.
/// Not the mixer's callback: ALSA's worker writes as soon as a stream is built, so a probe with
/// it could take a buffer of the track (or play one while paused) before it was dropped.
fn probe_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
) -> Result<(), cpal::BuildStreamError> {
    let silence = |data: &mut cpal::Data, _: &cpal::OutputCallbackInfo| data.bytes_mut().fill(0); // 0 in I16 and F32
    device
        .build_output_stream_raw(config, format, silence, |_| {}, None)
        .map(drop)
}

fn build_stream(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    format: cpal::SampleFormat,
    mixer: &Arc<Mutex<Mixer>>,
    errors: &ErrorSlot,
) -> Result<cpal::Stream, cpal::BuildStreamError> {
    let channels = config.channels as usize;
    let on_error = {
        let errors = Arc::clone(errors);
        move |e: cpal::StreamError| {
            *errors.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    };
    // Scratch space for the mixer, sized once here so the callback never allocates
    // (grown only if a device asks for a bigger buffer than announced).
    let mut scratch = vec![0.0f32; BUFFER_FRAMES as usize * channels * 4];
    match format {
        cpal::SampleFormat::I16 => {
            let mixer = Arc::clone(mixer);
            device.build_output_stream(
                config,
                move |data: &mut [i16], _| {
                    if scratch.len() < data.len() {
                        scratch.resize(data.len(), 0.0);
                    }
                    let buf = &mut scratch[..data.len()];
                    render_into(&mixer, buf, channels);
                    for (d, s) in data.iter_mut().zip(buf.iter()) {
                        *d = crate::audio_file::wav::to_i16(*s);
                    }
                },
                on_error,
                None,
            )
        }
        _ => {
            let mixer = Arc::clone(mixer);
            device.build_output_stream(
                config,
                move |data: &mut [f32], _| render_into(&mixer, data, channels),
                on_error,
                None,
            )
        }
    }
}

/// How long the callback retries a busy mixer lock before a buffer of silence.
const LOCK_PATIENCE: Duration = Duration::from_micros(500);

/// Buffers the callback filled with silence because the mixer was busy (dropouts).
pub static DROPOUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The callback's only work: mix under a lock the control thread holds for O(1) steps,
/// never blocking on it (silence for one buffer, counted in [`DROPOUTS`], in the rare case
/// it stays busy past [`LOCK_PATIENCE`]).
fn render_into(mixer: &Mutex<Mixer>, out: &mut [f32], channels: usize) {
    // The control thread holds the lock for microseconds: retry for a few percent of a
    // buffer before giving the buffer up.
    let deadline = Instant::now() + LOCK_PATIENCE;
    loop {
        match mixer.try_lock() {
            Ok(mut m) => return m.render(out, channels),
            Err(_) if Instant::now() < deadline => std::hint::spin_loop(),
            Err(_) => {
                DROPOUTS.fetch_add(1, Ordering::Relaxed);
                out.iter_mut().for_each(|s| *s = 0.0);
                return;
            }
        }
    }
}

/// How late the `none` clock may render before a device holding a few periods of audio would
/// have run dry.
const CLOCK_SLACK: Duration = Duration::from_millis(50);

/// The `none` clock's render: a thread with no hard deadline, it waits for a busy mixer (a
/// lock holder the scheduler preempted on a loaded machine) and catches up on its next tick,
/// as a device's buffer would; a wait past [`CLOCK_SLACK`] counts as a dropout, since a device
/// would have played silence meanwhile.
fn render_late_tolerant(mixer: &Mutex<Mixer>, out: &mut [f32]) {
    let asked = Instant::now();
    let mut m = mixer.lock().unwrap_or_else(|e| e.into_inner());
    if asked.elapsed() > CLOCK_SLACK {
        DROPOUTS.fetch_add(1, Ordering::Relaxed);
    }
    m.render(out, 2);
}

/// Where the `none` output writes what it renders (mono f32, little-endian), for tests of what a
/// listener hears in real time (`LOFI_DAEMON_TEST_HOOKS=1` and `LOFI_TEST_CAPTURE`; ALSA's
/// `file` plugin over `null` plays faster than real time).
fn test_capture() -> Option<std::fs::File> {
    if std::env::var_os("LOFI_DAEMON_TEST_HOOKS").is_none_or(|v| v != "1") {
        return None;
    }
    let path = std::env::var_os("LOFI_TEST_CAPTURE")?;
    std::fs::OpenOptions::new().create(true).append(true).open(path).ok()
}

/// The `none` output: the same clock as a device, rendering and discarding 10 ms at a
/// time, so positions, crossfades and events behave as with a sound card.
fn open_clock(mixer: &Arc<Mutex<Mixer>>) -> (Active, OpenOutput) {
    reset_mixer_rate(mixer, NONE_RATE);
    let running = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (mixer, run, halt) = (Arc::clone(mixer), Arc::clone(&running), Arc::clone(&stop));
    let clock = thread::Builder::new()
        .name("null-clock".into())
        .spawn(move || {
            let mut buffer = vec![0.0f32; NONE_RATE as usize * 2 / 10];
            let mut capture = test_capture();
            let mut rendered: u64 = 0;
            let mut started = Instant::now();
            let mut was_running = false;
            while !halt.load(Ordering::Relaxed) {
                if !run.load(Ordering::Relaxed) {
                    // Stopped or paused: no wake-ups until run or dropped (either unparks).
                    was_running = false;
                    thread::park();
                    continue;
                }
                thread::sleep(Duration::from_millis(10));
                let running = run.load(Ordering::Relaxed);
                if running && !was_running {
                    started = Instant::now();
                    rendered = 0;
                }
                was_running = running;
                if !running {
                    continue;
                }
                let due = (started.elapsed().as_secs_f64() * NONE_RATE as f64) as u64;
                let frames = ((due - rendered) as usize).min(buffer.len() / 2);
                render_late_tolerant(&mixer, &mut buffer[..frames * 2]);
                rendered += frames as u64;
                if let Some(file) = capture.as_mut() {
                    let bytes: Vec<u8> = buffer[..frames * 2]
                        .iter()
                        .step_by(2)
                        .flat_map(|s| s.to_le_bytes())
                        .collect();
                    let _ = std::io::Write::write_all(file, &bytes);
                }
            }
        })
        .expect("spawn null clock");
    let thread = clock.thread().clone();
    let info = OpenOutput {
        name: NONE_DEVICE.into(),
        sample_rate: NONE_RATE,
        channels: 2,
        sample_format: "f32".into(),
    };
    (Active::Clock { running, stop, thread }, info)
}
