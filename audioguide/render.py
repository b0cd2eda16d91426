"""Stage 5, render: mix the Timeline into PCM blocks (sample-exact), add the ambience bed, master it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sounds
from .errors import RenderError
from .timeline import CUE, SPEECH, Event, Timeline

BLOCK_SAMPLES = 1 << 16
"""Render in blocks of this many samples, so memory does not grow with the session's length."""
AMBIENCE_GAIN_DB = -16.0
"""The bed sits this far below its normalised level (about 16 dB under the voice) before ducking."""
AMBIENCE_DUCK_DB = -12.0
AMBIENCE_RAMP_MS = 500
AMBIENCE_BRIDGE_MS = 1000
AMBIENCE_FADE_IN_MS = 3000
AMBIENCE_FADE_OUT_MS = 5000
SPEECH_PAN = 0.35  # with --spatial, speech leans this far toward the working side (0 centre, 1 hard)
CUE_PAN = 0.8  # and cue sounds this far


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

    measured_lufs: float
    gain_db: float
    target_lufs: float


def _pan(side: str | None, amount: float) -> tuple[float, float]:
    """Constant-power gains (left, right) leaning ``amount`` toward ``side``."""
    position = {"left": -amount, "right": amount}.get(side or "", 0.0)
    angle = (position + 1) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


class Mixer:
    """Mixes a Timeline block by block; each call to ``blocks()`` renders the whole session afresh."""

    def __init__(self, timeline: Timeline, clips: Mapping[str, np.ndarray], options: RenderOptions) -> None:
        self.timeline = timeline
        self.options = options
        self.events = sorted(timeline.audible(), key=lambda e: e.start_sample)
        self.audio: dict[str, np.ndarray] = {}
        for e in self.events:
            if e.clip is None or e.clip in self.audio:
                continue
            if e.kind == SPEECH:
                if e.clip not in clips:
                    raise RenderError(f"no audio for the phrase {e.text!r}")
                self.audio[e.clip] = clips[e.clip]
            else:
                name, _, length = e.clip.partition(":")
                self.audio[e.clip] = sounds.cue(name, int(length) if length else None)
        self.bed = None
        self.speech_spans: list[tuple[int, int]] = []
        if options.ambience not in ("", "none"):
            from .ambience import load_bed

            self.bed = load_bed(options.ambience, options.ambience_base)
            self.speech_spans = _merge([(e.start_sample, e.end_sample) for e in timeline.speech()])

    def blocks(self, block: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
        total = self.timeline.length_samples
        channels = self.options.out_channels
        spatial = self.options.spatial
        pending = list(self.events)
        nxt = 0
        active: list[Event] = []
        for start in range(0, total, block):
            n = min(block, total - start)
            end = start + n
            while nxt < len(pending) and pending[nxt].start_sample < end:
                active.append(pending[nxt])
                nxt += 1
            out = np.zeros((n, channels) if channels > 1 else n, dtype=np.float32)
            keep = []
            for e in active:
                if e.end_sample <= start:
                    continue
                keep.append(e)
                audio = self.audio[e.clip]  # type: ignore[index]
                a = max(start, e.start_sample)
                b = min(end, e.start_sample + len(audio), e.end_sample if e.kind == CUE else end)
                if b <= a:
                    continue
                piece = audio[a - e.start_sample : b - e.start_sample]
                if channels == 1:
                    out[a - start : b - start] += piece
                else:
                    left, right = _pan(e.side if spatial else None, CUE_PAN if e.kind == CUE else SPEECH_PAN)
                    out[a - start : b - start, 0] += piece * left
                    out[a - start : b - start, 1] += piece * right
            active = keep
            if self.bed is not None:
                out += self._bed(start, n, channels)
            yield out

    def _bed(self, start: int, n: int, channels: int) -> np.ndarray:
        from .ambience import duck_gain, fade_gain

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
        bed = self.bed.block(start, n) * gain * np.float32(10 ** (AMBIENCE_GAIN_DB / 20))
        if channels > 1:
            return np.repeat(bed[:, None], channels, axis=1) * np.float32(np.sqrt(0.5))
        return bed


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def master(mixer: Mixer) -> tuple[Iterator[np.ndarray], MasterReport]:
    """Measure the mix (first pass), then stream it at the loudness target through the true-peak limiter."""
    from .loudness import LoudnessMeter, limit

    options = mixer.options
    rate = mixer.timeline.sample_rate
    meter = LoudnessMeter(rate, options.out_channels)
    for block in mixer.blocks():
        meter.add(block)
    measured = meter.integrated()
    if not np.isfinite(measured):
        raise RenderError("the session is silent: nothing to master")
    gain_db = options.loudness_lufs - measured
    gain = np.float32(10 ** (gain_db / 20))
    stream = limit((b * gain for b in mixer.blocks()), rate, ceiling_dbtp=options.ceiling_dbtp)
    return stream, MasterReport(measured, gain_db, options.loudness_lufs)


def prefetch(blocks: Iterator[np.ndarray], depth: int = 6) -> Iterator[np.ndarray]:
    """Produce ``blocks`` in a background thread while the caller consumes them.

    Mixing, mastering and MP3 encoding each release the GIL for their heavy loops, so on two
    cores rendering the next blocks overlaps encoding the last ones and a build costs little
    more than the encode alone. Errors in the producer are raised in the consumer; if the
    consumer stops early, the producer is told to stop too.
    """
    import queue
    import threading

    done = object()
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        q.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put(exc)

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
        thread.join(timeout=5)
