"""Stage 5, render: mix the Timeline into PCM blocks (sample-exact), add the ambience bed, master it."""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from audioguide.errors import RenderError
from audioguide.model.timeline import SPEECH, Event, Timeline
from audioguide.render import sounds
from audioguide.render.ambience import BED_LUFS, duck_gain, fade_gain, load_bed
from audioguide.render.dsp import BiquadCascade
from audioguide.render.loudness import LoudnessProfile, limit
from audioguide.speak.cache import DerivedClipCache

BLOCK_SAMPLES = 1 << 16
"""Render in blocks of this many samples, so memory does not grow with the session's length."""
EDGE_FADE_SAMPLES = 220
"""Every clip fades in and out over this many samples (5 ms, raised cosine), and so does a cue cut short
by its event: an edge that does not start and end at zero would click."""
AMBIENCE_LEVEL_LU = -16.0
"""Away from speech the bed sits this far under the session's loudness target (BS.1770, before ducking).
Mastering adds it at that level after its gain, so limiting the voice never lifts the bed."""
AMBIENCE_DUCK_DB = -12.0
AMBIENCE_RAMP_MS = 500
AMBIENCE_BRIDGE_MS = 1000
AMBIENCE_FADE_IN_MS = 3000
AMBIENCE_FADE_OUT_MS = 5000
SPEECH_PAN = 0.35  # with --spatial, speech leans this far toward the working side (0 centre, 1 hard)
CUE_PAN = 0.8  # and cue sounds this far

MAX_LIMITING_DB = 12.0
"""Mastering may add at most this much gain beyond what the loudness target needs without a limiter."""
LIMITER_LOOKAHEAD_MS = 5.0
LIMITER_RELEASE_MS = 50.0
"""The master limiter's timing: 5 ms look-ahead (a soft S-shaped attack that is complete as a peak
arrives) and 50 ms release, as broadcast and podcast limiters use for speech; a longer release holds
the gain down through whole syllables and costs more loudness for the same peaks."""
PHASE_ROTATOR_HZ = (150.0, 150.0, 150.0, 150.0, 400.0, 400.0, 400.0, 400.0)
PHASE_ROTATOR_Q = 0.7
"""Second-order all-pass sections applied to every speech clip (a broadcast "phase rotator"). A voice's
glottal pulses are narrow, so its waveform peaks far above its loudness; delaying its low harmonics by
different amounts spreads each pulse out. The magnitude spectrum and the loudness are unchanged, the
peaks fall (about 2 dB on synthetic speech), and the limiter has that much less to do."""
PHASE_ROTATOR_VERSION = 2
"""Bump when rotate_phase computes different samples: the rotated clips cached by earlier versions
then miss. (Its frequencies, Q and the sample rate are part of the cache key already.) Version 2:
float64 through dsp.BiquadCascade instead of scipy's sosfilt in float32."""
PHASE_ROTATOR_BLOCK = 32
"""BiquadCascade's block length for the rotator's 16 states: the flagship's 102 clips (272 s) took
0.24 CPU s at 32 (and at 48 or 64), 0.33-0.46 s at 16 and 1.6 s at 8."""


@dataclass(frozen=True)
class RenderOptions:
    """How the mix is made and mastered."""

    channels: int = 1
    spatial: bool = False
    ambience: str = "none"
    ambience_base: Path | None = None
    loudness_lufs: float = -16.0
    ceiling_dbtp: float = -1.0

    @property
    def out_channels(self) -> int:
        return 2 if self.spatial else self.channels


@dataclass(frozen=True)
class MasterReport:
    """What mastering measured and did."""

    measured_lufs: float  # the mix before mastering (BS.1770 integrated)
    gain_db: float  # applied before the limiter
    target_lufs: float
    limiter_ceiling_dbtp: float = -1.0  # where the limiter held the true peak (under the delivered ceiling)
    predicted_lufs: float = float("nan")  # the integrated loudness expected after the limiter


def pan_gains(side: str | None, amount: float) -> tuple[float, float]:
    """Constant-power gains (left, right) leaning ``amount`` (0 centre .. 1 hard) toward ``side``.

    The sine/cosine pan law: left = cos θ, right = sin θ with θ = (position + 1)·π/4, so
    left² + right² = 1 and a sound keeps its power (and loudness) wherever it is placed; centre is
    -3 dB in each channel."""
    position = {"left": -amount, "right": amount}.get(side or "", 0.0)
    angle = (position + 1) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


@dataclass(frozen=True)
class _Voice:
    """One audible event as the mixer plays it: which audio, where, how much of it, and its pan."""

    start: int
    length: int  # samples played: the clip, cut at the event's end if it is longer
    audio: np.ndarray
    gains: tuple[float, float]
    fade_in: bool  # speech from an engine may not start or end at zero; the cue palette does
    fade_out: bool

    @property
    def end(self) -> int:
        return self.start + self.length


_EDGE_RAMP = (0.5 - 0.5 * np.cos(np.pi * (np.arange(EDGE_FADE_SAMPLES) + 0.5) / EDGE_FADE_SAMPLES)).astype(
    np.float32
)


class Mixer:
    """Mixes a Timeline block by block; each call to ``blocks()`` renders the whole session afresh, and the
    samples do not depend on the block size."""

    def __init__(
        self,
        timeline: Timeline,
        clips: Mapping[str, np.ndarray],
        options: RenderOptions,
        cache_dir: Path | None = None,
    ) -> None:
        """``cache_dir``: the speech cache's folder, where the phase-rotated speech is kept too, so that
        a warm build does not filter every clip again (None: rotate every clip, keep nothing)."""
        self.timeline = timeline
        self.options = options
        self.events = sorted(timeline.audible(), key=lambda e: e.start_sample)
        self.audio: dict[str, np.ndarray] = {}
        rotated = DerivedClipCache(phase_rotator_id(timeline.sample_rate), cache_dir) if cache_dir else None
        palette = DerivedClipCache(sounds.palette_id(), cache_dir) if cache_dir else None
        for e in self.events:
            if e.clip is None or e.clip in self.audio:
                continue
            if e.kind == SPEECH:
                if e.clip not in clips:
                    raise RenderError(f"no audio for the phrase {e.text!r}")
                self.audio[e.clip] = _rotated(rotated, np.asarray(clips[e.clip]), timeline.sample_rate)
            else:
                name, _, length = e.clip.partition(":")
                try:
                    self.audio[e.clip] = _cue(
                        palette, name, int(length) if length else None, timeline.sample_rate
                    )
                except ValueError as exc:
                    raise RenderError(
                        f"cannot make the cue {e.clip!r} at sample {e.start_sample}: {exc}"
                    ) from exc
        self.voices = [self._voice(e) for e in self.events if e.clip is not None]
        self.bed = None
        self.speech_spans: list[tuple[int, int]] = []
        if options.ambience not in ("", "none"):
            self.bed = load_bed(options.ambience, options.ambience_base, timeline.length_samples)
            self.speech_spans = _merge([(e.start_sample, e.end_sample) for e in timeline.speech()])

    def _voice(self, e: Event) -> _Voice:
        audio = self.audio[e.clip]  # type: ignore[index]
        length = min(len(audio), e.length_samples)
        spatial = self.options.spatial
        gains = pan_gains(e.side if spatial else None, SPEECH_PAN if e.kind == SPEECH else CUE_PAN)
        speech = e.kind == SPEECH
        return _Voice(e.start_sample, length, audio, gains, speech, speech or length < len(audio))

    def default_bed_gain(self) -> float:
        """The bed's linear gain in a session mastered to ``options.loudness_lufs`` (AMBIENCE_LEVEL_LU)."""

        return float(10 ** ((self.options.loudness_lufs + AMBIENCE_LEVEL_LU - BED_LUFS) / 20))

    def blocks(
        self, block: int = BLOCK_SAMPLES, *, voice_gain: float = 1.0, bed_gain: float | None = None
    ) -> Iterator[np.ndarray]:
        """The mix as consecutive float32 blocks of ``block`` samples (the last one shorter): shape (n,)
        for mono, (n, channels) otherwise; together exactly ``timeline.length_samples`` long, and the
        same samples whatever the block size. Speech and cues are scaled by ``voice_gain``; the bed (if
        any) by ``bed_gain`` (default: ``default_bed_gain()``; 0 leaves it out)."""
        if block < 1:
            raise ValueError(f"block size must be at least 1, got {block}")
        voice = np.float32(voice_gain)
        bed_level = np.float32(self.default_bed_gain() if bed_gain is None else bed_gain)
        total = self.timeline.length_samples
        channels = self.options.out_channels
        voices = self.voices
        nxt = 0
        active: list[_Voice] = []
        for start in range(0, total, block):
            n = min(block, total - start)
            end = start + n
            while nxt < len(voices) and voices[nxt].start < end:
                active.append(voices[nxt])
                nxt += 1
            out = np.zeros((n, channels) if channels > 1 else n, dtype=np.float32)
            active = [v for v in active if v.end > start]
            for v in active:
                a, b = max(start, v.start), min(end, v.end)
                if b <= a:
                    continue
                piece = _shaped(v, a - v.start, b - v.start)
                if channels == 1:
                    out[a - start : b - start] += piece
                else:
                    left, right = v.gains
                    out[a - start : b - start, 0] += piece * np.float32(left)
                    out[a - start : b - start, 1] += piece * np.float32(right)
            if voice != 1:
                out *= voice
            if self.bed is not None and bed_level != 0:
                out += self._bed(start, n, channels, bed_level)
            yield out

    def _bed(self, start: int, n: int, channels: int, level: np.float32) -> np.ndarray:

        assert self.bed is not None
        rate = self.timeline.sample_rate
        gain = duck_gain(
            self.speech_spans,
            start,
            n,
            depth_db=AMBIENCE_DUCK_DB,
            ramp_samples=rate * AMBIENCE_RAMP_MS // 1000,
            bridge_samples=rate * AMBIENCE_BRIDGE_MS // 1000,
        )
        gain = gain * fade_gain(
            self.timeline.length_samples,
            start,
            n,
            rate * AMBIENCE_FADE_IN_MS // 1000,
            rate * AMBIENCE_FADE_OUT_MS // 1000,
        )
        bed = self.bed.block(start, n) * gain * level
        if channels > 1:
            # The bed sits in the centre at the same power as in mono (constant-power pan law).
            return np.repeat(bed[:, None], channels, axis=1) * np.float32(np.sqrt(0.5))
        return bed


def _shaped(v: _Voice, a: int, b: int) -> np.ndarray:
    """Samples [a, b) of what a voice plays (offsets into it), with its edge fades applied."""
    piece = v.audio[a:b]
    fade = min(EDGE_FADE_SAMPLES, v.length // 2)
    head = min(b, fade) - a if v.fade_in else 0
    tail_start = max(a, v.length - fade) if v.fade_out else b
    if head <= 0 and tail_start >= b:
        return piece
    piece = piece.copy()
    if head > 0:
        piece[:head] *= _EDGE_RAMP[a : a + head] if fade == EDGE_FADE_SAMPLES else _ramp(fade)[a : a + head]
    if tail_start < b:
        ramp = (_EDGE_RAMP if fade == EDGE_FADE_SAMPLES else _ramp(fade))[::-1]
        offset = tail_start - (v.length - fade)
        piece[tail_start - a :] *= ramp[offset : offset + b - tail_start]
    return piece


def _ramp(n: int) -> np.ndarray:
    """A raised-cosine fade-in of n samples, sampled at half-sample offsets (never exactly 0 or 1)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def phase_rotator_sos(rate: int) -> np.ndarray:
    """The all-pass sections of the phase rotator as scipy ``sos`` (RBJ Audio EQ Cookbook all-pass:
    b = (1 - α, -2 cos ω, 1 + α), a = (1 + α, -2 cos ω, 1 - α), α = sin ω / 2Q)."""
    sections = []
    for hz in PHASE_ROTATOR_HZ:
        w = 2 * np.pi * hz / rate
        alpha, cos = np.sin(w) / (2 * PHASE_ROTATOR_Q), np.cos(w)
        b, a = [1 - alpha, -2 * cos, 1 + alpha], [1 + alpha, -2 * cos, 1 - alpha]
        sections.append([*(v / a[0] for v in b), *(v / a[0] for v in a)])
    return np.array(sections)


def phase_rotator_id(rate: int) -> str:
    """Everything the rotated samples depend on besides the clip: the rotated-clip cache's namespace.
    numpy's version is in it because its matrix products do the filtering (BiquadCascade), so cold
    and warm builds give the same bytes after an upgrade too."""
    return (
        f"phase-rotator v{PHASE_ROTATOR_VERSION} {PHASE_ROTATOR_HZ} Q{PHASE_ROTATOR_Q} {rate} Hz "
        f"block {PHASE_ROTATOR_BLOCK} numpy {np.__version__}"
    )


def _rotated(cache: DerivedClipCache | None, clip: np.ndarray, rate: int) -> np.ndarray:
    """``rotate_phase(clip)``, from the cache when an earlier build made it."""
    if cache is None:
        return rotate_phase(clip, rate)
    return cache.get_or_make(cache.key(clip, rate), rate, clip.size, lambda: rotate_phase(clip, rate))


def rotate_phase(clip: np.ndarray, rate: int) -> np.ndarray:
    """A speech clip through the phase rotator (float32, same length; the filter's short tail after the
    clip's end is dropped, and the mixer fades every clip's edges)."""
    x = np.asarray(clip, dtype=np.float32)
    if x.size == 0:
        return x
    # A copy of a cascade built once per rate: its matrices are shared, its state starts at zero.
    cascade = copy.copy(_phase_rotator(rate))
    cascade.state = np.zeros_like(cascade.state)
    return cascade.process(x).astype(np.float32)


@lru_cache(maxsize=4)
def _phase_rotator(rate: int) -> BiquadCascade:
    """The rotator as a BiquadCascade (float64, agrees with sosfilt to rounding; no scipy import, which
    cost a cold build 1.3 CPU s, and more exact than the float32 sosfilt it replaced, whose rounding
    noise reached 1.7e-4 on the flagship's speech)."""
    return BiquadCascade(phase_rotator_sos(rate), block=PHASE_ROTATOR_BLOCK)


def _cue(cache: DerivedClipCache | None, name: str, length: int | None, rate: int) -> np.ndarray:
    """``sounds.cue(name, length)``, from the cache when an earlier build made it (the breath tones take
    a tenth of a second each to synthesize)."""
    if cache is None:
        return sounds.cue(name, length)
    samples = sounds.cue_length(name, length)  # checked first: a bad cue fails as it would uncached
    key = cache.named_key(f"{name}:{samples}", rate)  # the length the cue has, not the one asked for
    return cache.get_or_make(key, rate, samples, lambda: sounds.cue(name, length))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def master(mixer: Mixer, headroom_db: float = 0.0) -> tuple[Iterator[np.ndarray], MasterReport]:
    """Master the mix to ``options.loudness_lufs`` (BS.1770-4 integrated) with the true peak at or
    under ``options.ceiling_dbtp`` (BS.1770-4 Annex 2, 4x oversampled), less ``headroom_db`` that a lossy
    encoder needs (``audioguide.export.formats`` says how much for each format).

    Pass one renders speech and cues and summarises them (loudness.LoudnessProfile); the gain is then
    chosen so that the loudness *after* the limiter meets the target, since limiting peaks takes
    loudness away. Pass two renders the mix again with that gain, adds the ambience bed at its level
    under the target, and streams it through the look-ahead true-peak limiter, aimed
    ``headroom_db`` lower. ``MasterReport.gain_db`` is the voice's gain.
    Raises RenderError for a silent mix, or a target that would need more than MAX_LIMITING_DB of
    limiting."""

    options = mixer.options
    rate = mixer.timeline.sample_rate
    timing = {"lookahead_ms": LIMITER_LOOKAHEAD_MS, "release_ms": LIMITER_RELEASE_MS}
    profile = LoudnessProfile(rate, options.out_channels)
    for block in mixer.blocks(bed_gain=0.0):  # the voice alone: the bed's level is set from the target
        profile.add(block)
    measured = profile.integrated()
    if not np.isfinite(measured):
        raise RenderError("the session is silent: nothing to master")
    ceiling = options.ceiling_dbtp - headroom_db
    gain_db = profile.gain_for(options.loudness_lufs, ceiling, MAX_LIMITING_DB, **timing)
    if gain_db is None:
        raise RenderError(
            f"cannot master to {options.loudness_lufs:g} LUFS with the true peak under "
            f"{options.ceiling_dbtp:g} dBTP without more than {MAX_LIMITING_DB:g} dB of limiting "
            f"(the mix reads {measured:.1f} LUFS): choose a lower loudness target, e.g. --loudness -16"
        )
    predicted = profile.limited_loudness(gain_db, ceiling, **timing)
    profile.close()
    blocks = mixer.blocks(voice_gain=float(10 ** (gain_db / 20)), bed_gain=mixer.default_bed_gain())
    stream = limit(blocks, rate, ceiling_dbtp=ceiling, **timing)
    return stream, MasterReport(measured, gain_db, options.loudness_lufs, ceiling, predicted)


def rebatch(blocks: Iterator[np.ndarray], samples: int = BLOCK_SAMPLES) -> Generator[np.ndarray, None, None]:
    """The same samples as ``blocks``, in blocks of at least ``samples`` (the last one may be shorter).

    The limiter yields 16384-sample frames; handing them to the encoder four at a time (through
    ``prefetch``) means a quarter of the thread hand-offs and encoder calls, each of which costs a
    few numpy calls and, across threads, a wake-up. Closing this closes ``blocks``."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    pending: list[np.ndarray] = []
    count = 0
    try:
        for block in blocks:
            pending.append(block)
            count += len(block)
            if count >= samples:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, count = [], 0
        if pending:
            yield pending[0] if len(pending) == 1 else np.concatenate(pending)
    finally:
        close_stream(blocks)


def close_stream(stream: object) -> None:
    """Close a stream of blocks if it can be closed (a generator, a prefetch): stops its work at once."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def prefetch(blocks: Iterator[np.ndarray], depth: int = 6) -> Generator[np.ndarray, None, None]:
    """Produce ``blocks`` in a background thread while the caller consumes them.

    Mixing, mastering and MP3 encoding each release the GIL for their heavy loops, so on two
    cores rendering the next blocks overlaps encoding the last ones and a build costs little
    more than the encode alone. Errors in the producer are raised in the consumer; if the
    consumer stops early (or is closed), the producer stops too and the source is closed in its thread.
    """

    done = object()
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Put ``item`` unless told to stop; never blocks for good on a consumer that has gone."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not offer(block):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)
        finally:
            try:
                close_stream(blocks)
            except Exception as exc:  # a failing close still reaches the consumer
                offer(exc)

    thread = threading.Thread(target=produce, name="audioguide-render", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
