"""The whole pipeline as a library call: plan (load, compile, speak, schedule) and build (render, export)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from audioguide.compile.compiler import PACES, compile_routine
from audioguide.compile.compiler import Options as CompileOptions
from audioguide.errors import EngineUnavailable, ExportError, OptionError, RenderError, ScheduleError
from audioguide.export.cover import make_cover
from audioguide.export.encode import MP3_BITRATES_KBPS, encode_file
from audioguide.export.formats import DEFAULT_FORMAT, format_for, get_format
from audioguide.export.sidecars import sidecar_paths, write_chapters_json, write_vtt
from audioguide.export.tags import ChapterMark, TagInfo, write_tags
from audioguide.fsutil import (
    atomic_write,
    check_free_space,
    check_writable_folder,
    read_capped,
    staged_path,
    writable_target,
)
from audioguide.load.routine import load_routine
from audioguide.load.voices import load_profile
from audioguide.model.clip import Clip
from audioguide.model.cues import BUILTIN_BEDS
from audioguide.model.routine import TARGET_RANGE_MS, Routine
from audioguide.model.script import Say, Script
from audioguide.model.timeline import Timeline
from audioguide.model.voice import VoiceProfile
from audioguide.render.mixer import (
    MasterReport,
    Mixer,
    RenderOptions,
    close_stream,
    master,
    prefetch,
    rebatch,
)
from audioguide.schedule import schedule
from audioguide.speak.cache import SpeechCache, default_cache_dir
from audioguide.speak.engines.hibari import available as hibari_unavailable
from audioguide.speak.synth import speak
from audioguide.units import format_clock

if TYPE_CHECKING:
    import numpy as np

    from audioguide.export.tags import TagInfo

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called as work advances (stage is "speech" or "render")."""


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build can be told; every field has the default a user would expect."""

    output: Path | None = None
    fmt: str | None = None  # from the output's suffix, else mp3
    bitrate_kbps: int | None = None
    voice: str | None = None  # overrides the routine's voice profile
    engine: str | None = None  # overrides the profile's engine
    compile: CompileOptions = field(default_factory=CompileOptions)
    render: RenderOptions = field(default_factory=RenderOptions)
    ambience: str | None = None  # overrides the routine's ambience
    jobs: int | None = None
    cache_dir: Path | None = None
    recordings: Path | None = None  # a voice pack folder; default: the voice profile's
    sidecars: bool = True
    artist: str = "audioguide"
    album: str | None = None
    track: int | None = None
    track_total: int | None = None
    year: int | None = None
    comment: str | None = None
    cover_png: bytes | None = None


@dataclass(frozen=True)
class Plan:
    """A routine compiled and scheduled: everything known before the audio is rendered."""

    routine: Routine
    profile: VoiceProfile
    script: Script
    clips: dict[str, Clip]
    timeline: Timeline
    notices: tuple[str, ...] = ()  # things the user should know, e.g. that the fallback voice spoke


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and measured."""

    output: Path
    plan: Plan
    files: tuple[Path, ...]
    master: MasterReport
    speech_sources: dict[str, int]
    seconds: float


def make_plan(
    ref: str | Path | Routine, options: BuildOptions | None = None, progress: Progress | None = None
) -> Plan:
    """Load, compile, speak and schedule: the exact timeline, with every phrase synthesized (cached).

    Where the neural voice cannot run (not installed, or onnxruntime does not load here), the plan
    is spoken with the eSpeak NG profile instead and ``Plan.notices`` says so: never silently.
    """
    options = options or BuildOptions()
    routine = ref if isinstance(ref, Routine) else load_routine(ref)
    profile, notices = _profile(routine, options)
    script = compile_routine(routine, options.compile)
    _check_speech_fits(script)  # before any synthesis: 5000 phrases would take gigabytes to speak
    cache = SpeechCache(options.cache_dir) if options.cache_dir else SpeechCache()
    report = (lambda done, total: progress("speech", done, total)) if progress else None

    def spoken(profile: VoiceProfile) -> dict[str, Clip]:
        return speak(
            script.phrases(),
            profile,
            engine=options.engine,
            cache=cache,
            jobs=options.jobs,
            progress=report,
            recordings=options.recordings,
        )

    try:
        clips = spoken(profile)
    except EngineUnavailable as exc:
        if profile.engine != "hibari" or options.engine == "hibari":
            raise
        profile, notice = _fallback(routine, options, str(exc))
        notices += (notice,)
        clips = spoken(profile)
    return Plan(routine, profile, script, clips, schedule(script, clips), notices)


SPEECH_CHARS_PER_S_MAX = 40
"""Faster than any voice here speaks: the brisk pace reads at most 22 characters a second per phrase
(measured over lower-back-10min with the neural voice, eSpeak NG and the tone engine)."""


def _check_speech_fits(script: Script) -> None:
    """ScheduleError when the speech alone, at a speed no voice reaches, outlasts the longest session."""
    said = sum(len(item.text) for item in script.items() if isinstance(item, Say))
    least_ms = 1000 * said // SPEECH_CHARS_PER_S_MAX
    if least_ms > TARGET_RANGE_MS[1]:
        raise ScheduleError(
            f"{script.source}: this routine is too long: its speech alone takes more than "
            f"{format_clock(least_ms)}, and a session is at most {format_clock(TARGET_RANGE_MS[1])}; "
            "remove steps, or split it into several routines (a series builds them as episodes)"
        )


FALLBACK_PROFILE = "espeak"
"""The profile that speaks when the neural voice cannot run here, or when a formant or draft engine
is asked for with a neural profile (its voice id means nothing to them)."""


def _profile(routine: Routine, options: BuildOptions) -> tuple[VoiceProfile, tuple[str, ...]]:
    """The voice profile a plan speaks with, at the pace's rate, and any notice about it."""
    profile = load_profile(options.voice or routine.voice, routine.base_dir)
    notices: tuple[str, ...] = ()
    if profile.engine == "hibari" and options.engine not in (None, "hibari"):
        profile = load_profile(FALLBACK_PROFILE, routine.base_dir)
    elif profile.engine == "hibari" and options.engine is None and (reason := hibari_unavailable()):
        profile, notice = _fallback(routine, options, reason)
        notices = (notice,)
    return profile.with_rate_scale(PACES[options.compile.pace][0]), notices


def _fallback(routine: Routine, options: BuildOptions, reason: str) -> tuple[VoiceProfile, str]:
    profile = load_profile(FALLBACK_PROFILE, routine.base_dir)
    notice = f"the neural voice cannot run here ({reason}); speaking with the '{FALLBACK_PROFILE}' profile"
    return profile.with_rate_scale(PACES[options.compile.pace][0]), notice


def default_output(routine: Routine, fmt: str = DEFAULT_FORMAT) -> Path:
    """Where a build writes when no output is given: ``output/<routine id>.<format>``."""
    return Path("output") / f"{routine.id}.{fmt}"


MIN_MP3_KBPS = 48
"""Below this, MP3 artefacts push decoded peaks over the true-peak ceiling (measured at 32 kbps)."""


LOUDNESS_RANGE_LUFS = (-31.0, -16.0)
"""Integrated loudness targets a build accepts: -16 podcasts to -31 (quiet); louder needs limiting
that MP3 cannot keep under the -1 dBTP ceiling."""


def check_render_options(render: RenderOptions) -> None:
    """OptionError for a render option that cannot work (nan, inf or out of range)."""
    low, high = LOUDNESS_RANGE_LUFS
    if not low <= render.loudness_lufs <= high:  # also refuses nan
        raise OptionError("loudness", f"expected {low:g} to {high:g} LUFS, got {render.loudness_lufs}")


def _output(routine: Routine, options: BuildOptions) -> tuple[str, Path]:
    """The format and output path of a build, validated: ExportError for anything that cannot work."""

    check_render_options(options.render)
    fmt = format_for(options.output or Path(), options.fmt).name
    if options.bitrate_kbps is not None:
        if fmt != "mp3":
            raise ExportError(f"--bitrate applies to mp3 only, not {fmt}")
        allowed = [k for k in MP3_BITRATES_KBPS if k >= MIN_MP3_KBPS]
        if options.bitrate_kbps not in allowed:
            raise ExportError(
                f"MP3 bitrate {options.bitrate_kbps} kbps is not available; "
                f"choose one of {', '.join(map(str, allowed))}"
            )
    output = options.output or default_output(routine, fmt)
    writable_target(output)  # a device, pipe or folder given as the output is refused as it is
    if not output.suffix and not output.exists():
        output = output.with_name(f"{output.name}.{fmt}")  # "-o session" writes session.mp3
        writable_target(output)
    if options.sidecars:
        for kind, path in sidecar_paths(output).items():
            if path == output:
                raise ExportError(
                    f"{output}: the audio would overwrite its own {kind} sidecar; "
                    f"name it with an audio extension such as .{fmt}"
                )
            writable_target(path)
    check_writable_folder(output.parent)  # a read-only folder fails now, not after the render
    return fmt, output


def build(
    ref: str | Path | Routine, options: BuildOptions | None = None, progress: Progress | None = None
) -> BuildResult:
    """Build one session: the audio file, its tags and chapters, and its sidecars, all written atomically."""

    started = time.perf_counter()
    options = options or BuildOptions()
    routine = ref if isinstance(ref, Routine) else load_routine(ref)
    fmt, output = _output(routine, options)  # checked before any work, so mistakes fail fast
    plan = make_plan(routine, options, progress)
    timeline = plan.timeline
    check_free_space(output.parent, _size_bound(fmt, options, timeline))  # before the render
    render_options = options.render
    requested = render_options.ambience if render_options.ambience not in ("", "none") else None
    ambience = options.ambience or requested or routine.ambience
    render_options = replace(render_options, ambience=ambience, ambience_base=routine.base_dir)
    clips = {c.key: c.samples for c in plan.clips.values()}
    try:
        mixer = Mixer(timeline, clips, render_options, options.cache_dir or default_cache_dir())
    except RenderError as exc:
        if ambience != routine.ambience or ambience in BUILTIN_BEDS:
            raise
        line = f":{routine.ambience_line}" if routine.ambience_line else ""  # the routine named the file
        raise RenderError(f"{routine.source}{line}: ambience: {exc}") from None
    stream, report = master(mixer, get_format(fmt).headroom_db)
    stream = prefetch(rebatch(stream), depth=2)  # 2 x 65536 samples in hand, as 6 frames were before
    if progress:
        stream = _counting(stream, timeline.length_samples, progress)
    chapters = [
        ChapterMark(timeline.ms(c.start_sample), timeline.ms(c.end_sample), c.title)
        for c in timeline.chapters
    ]
    info = tag_info(routine, options)
    cover = options.cover_png
    if cover is None:
        cover = cached_cover(
            routine.title, options.album if options.album != routine.title else None, options.cache_dir
        )
    phrases = [(timeline.ms(e.start_sample), timeline.ms(e.end_sample), e.text) for e in timeline.speech()]
    files = [output]
    with contextlib.ExitStack() as stack:
        stack.callback(close_stream, stream)  # a failed build stops rendering at once
        staged = stack.enter_context(staged_path(output))
        try:
            encode_file(
                staged,
                stream,
                fmt,
                rate=timeline.sample_rate,
                channels=render_options.out_channels,
                bitrate_kbps=options.bitrate_kbps,
            )
            write_tags(staged, fmt, info, chapters, cover)
        except ExportError as exc:  # name the file the user asked for, not our staging file
            raise ExportError(f"{output}: {str(exc).replace(str(staged) + ': ', '')}") from None
        if options.sidecars:
            paths = sidecar_paths(output)
            write_vtt(stack.enter_context(staged_path(paths["vtt"])), phrases)
            write_chapters_json(stack.enter_context(staged_path(paths["chapters"])), chapters, routine.title)
            files += [paths["vtt"], paths["chapters"]]
    sources: dict[str, int] = {}
    for clip in plan.clips.values():
        sources[clip.source] = sources.get(clip.source, 0) + 1
    return BuildResult(output, plan, tuple(files), report, sources, time.perf_counter() - started)


def _size_bound(fmt: str, options: BuildOptions, timeline: Timeline) -> int:
    """About how many bytes the audio file will take: MP3 at its bitrate, anything else at most
    16-bit PCM (FLAC and Ogg come out smaller)."""
    seconds = timeline.length_samples / timeline.sample_rate
    channels = options.render.channels
    if fmt == "mp3":
        kbps = options.bitrate_kbps or (128 if channels == 2 else 64)
        return int(seconds * kbps * 1000 / 8)
    return int(seconds * timeline.sample_rate * 2 * channels)


def tag_info(routine: Routine, options: BuildOptions) -> TagInfo:
    """The tags a build writes for ``routine`` (series retagging uses the same)."""

    return TagInfo(
        title=routine.title,
        artist=options.artist,
        album=options.album or routine.title,
        track=options.track,
        track_total=options.track_total,
        year=options.year,
        comment=options.comment or routine.description or None,
    )


MAX_COVER_BYTES = 20_000_000
"""A generated cover is about 200 KB; a cache entry far larger is not one of ours."""


def cached_cover(title: str, subtitle: str | None, cache_dir: Path | None = None) -> bytes:
    """The generated cover for a title, made once and kept in the cache (it takes about a second)."""

    key = hashlib.sha256(repr(("cover", 1, title, subtitle)).encode()).hexdigest()
    path = (cache_dir or default_cache_dir()) / "covers" / f"{key}.png"
    with contextlib.suppress(OSError):
        data = read_capped(path, MAX_COVER_BYTES)
        if data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"):
            return data
    data = make_cover(title, subtitle)
    with contextlib.suppress(OSError), atomic_write(path, durable=False) as fh:
        fh.write(data)
    return data


def _counting(
    stream: Iterator[np.ndarray], total: int, progress: Progress
) -> Generator[np.ndarray, None, None]:
    done = 0
    try:
        for block in stream:
            done += len(block)
            progress("render", done, total)
            yield block
    finally:
        close_stream(stream)
