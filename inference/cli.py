"""``restyle``: the engine's command line. Every subcommand also takes ``--manifest``.

Exit codes (BSD sysexits): 0 done, 3 colour QC failed, 64 bad flag/manifest field, 65 bad input data,
66 missing input, 69 farm unavailable or job refused, 73 output not writable, 70 internal error,
130 cancelled (Ctrl-C), 141 output pipe closed (e.g. ``| head``; nothing printed about it).
Errors print one line naming the file, frame or field to fix.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from . import manifest as manifest_mod
from .devices import DEVICES
from .errors import EX_USAGE, RestyleError, UsageError
from .job_paths import FARM_FILE, FILE, FOLDER, READS, SEQUENCE, Folder, check_job_paths
from .progress import MODES
from .sequence import SequencePattern, parse_frame_range

EX_QC_FAILED = 3  # colourlock QC failed: a swatch off its target, a repainted one, NaN/Inf (a farm QC gate)
EX_SOFTWARE = 70
EX_CANCELLED = 130
EX_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away

FRAMES_HELP = "frame range, Nuke syntax: 1001-1100, 1001-1100x2, 1001,1005-1010"
PATTERN_HELP = "image sequence: name.####.exr, name.%%04d.exr or name.@@@@.exr (EXR, PNG, TIFF, JPEG, DPX)"
SPACE_HELP = ("OCIO colourspace, alias or role of {what} (config: $OCIO, else OCIO's built-in ACES "
              "studio config); default: the one an EXR records in its header, else by file type: EXR "
              "scene_linear, DPX compositing_log, PNG/JPEG/TIFF texture_paint (sRGB)")


def bounded(field: str) -> Callable[[str], int | float]:
    """argparse ``type`` of a numeric flag: its manifest field's type and range (inference/manifest.py's
    schema, the one place both are set), so a flag and a manifest accept the same values."""
    spec = manifest_mod.SCHEMA["properties"][field]
    integer = spec["type"] == "integer"

    def parse(text: str) -> int | float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and manifest_mod.in_range(spec, value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not {manifest_mod.range_text(spec)}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with the README's exit code for a usage error (64, not argparse's 2)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _guide_list(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip()]


def _key_pair(text: str) -> tuple[str, str]:
    frame, sep, path = text.partition("=")
    if not sep or not frame.strip().lstrip("-").isdigit() or not path:
        raise argparse.ArgumentTypeError(f"'{text}' is not FRAME=IMAGE (e.g. 1001=paint/key.1001.png)")
    return frame.strip(), path


# Each subcommand: help, description, arguments as (flags, manifest field, argparse options),
# and the manifest fields it cannot run without.
SUBCOMMANDS: dict[str, dict[str, Any]] = {
    "demo": {
        "help": "generate a procedural plate and painted keyframe, run every available stage",
        "args": [
            (("--out",), "out", {"metavar": "DIR", "help": "folder for the demo's EXR frames, "
                                 "keyframe, manifest and contact sheet (default: ./restyle_demo)"}),
            (("--frames",), "frames", {"metavar": "N", "type": int,
                                       "help": "number of frames to generate (default 24)"}),
            (("--size",), "size", {"metavar": "WxH", "help": "plate resolution (default 640x360)"}),
            (("--seed",), "seed", {"type": int, "help": "seed of the procedural textures (default 7)"}),
            (("--train-seconds",), "seconds", {"metavar": "S", "type": bounded("seconds"),
                                               "help": "training time for the restyle stage (default 60)"}),
        ],
        "required": [],
    },
    "inspect": {
        "help": "check a sequence (every frame present, decodable, same size, finite colour) and list its channels",
        "args": [
            (("--plate",), "plate", {"metavar": "PATTERN", "help": PATTERN_HELP}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP + "; default: every frame on disk"}),
            (("--json",), "json", {"metavar": "FILE", "help": "also write the summary as JSON"}),
        ],
        "required": ["plate"],
    },
    "convert": {
        "help": "convert a sequence between file types, bit depths and colourspaces (colour channels only)",
        "args": [
            (("--input",), "input", {"metavar": "PATTERN", "help": PATTERN_HELP}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--out",), "out", {"metavar": "PATTERN", "help": "output sequence; its extension picks the file type"}),
            (("--input-colourspace",), "input_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the input")}),
            (("--out-colourspace",), "out_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the output")}),
            (("--dtype",), "dtype", {"choices": ["half", "float", "uint8", "uint16", "uint10"],
                                     "help": "output bit depth (default by type: EXR half, PNG 8-bit, TIFF 16-bit, DPX 10-bit)"}),
            (("--compression",), "compression", {"metavar": "NAME",
                                                 "help": "EXR compression: zip (default), piz, dwaa, none, ..."}),
        ],
        "required": ["input", "frames", "out"],
    },
    "train": {
        "help": "learn a look from painted keyframes of the plate; writes an ONNX model",
        "args": [
            (("--plate",), "plate", {"metavar": "PATTERN", "help": PATTERN_HELP}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--key",), "keys", {"metavar": "FRAME=IMAGE", "action": "append", "type": _key_pair,
                                  "help": "a painted keyframe and the plate frame it paints; repeat for several"}),
            (("--out",), "out", {"metavar": "MODEL.onnx", "help": "model file to write"}),
            (("--onnx-dtype",), "onnx_dtype", {"choices": ["fp32", "fp16"],
                                               "help": "precision of the ONNX model's weights and arithmetic (default fp32; "
                                                       "fp16: half the file, within 0.01 of fp32; input and output stay float32)"}),
            (("--plate-colourspace",), "plate_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the plate")}),
            (("--key-colourspace",), "key_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the keyframes")}),
            (("--working-colourspace",), "working_colourspace", {"metavar": "NAME",
             "help": "encoding the model works in (default: sRGB Encoded Rec.709 (sRGB))"}),
            (("--guides",), "guides", {"metavar": "LIST", "type": _guide_list,
                                        "help": "extra inputs from the plate: comma list of normals, depth (render AOVs), position"}),
            (("--steps",), "steps", {"metavar": "N", "type": bounded("steps"),
                                     "help": "stop after N training steps (default 4000, about a minute of 2K on a GPU)"}),
            (("--seconds",), "seconds", {"metavar": "S", "type": bounded("seconds"),
                                         "help": "stop after S seconds of training (default 600: ten minutes on a CPU)"}),
            (("--no-plateau",), "plateau", {"action": "store_const", "const": False,
                                            "help": "do not stop early when the look is learnt (every key reproduced at "
                                                    "--key-psnr and neither they, nor tiles of the keys held back from "
                                                    "training, nor the texture of the frame of --frames farthest from the "
                                                    "keys still improving); train to --steps/--seconds"}),
            (("--key-psnr",), "key_psnr", {"metavar": "DB", "type": bounded("key_psnr"),
                                           "help": "key check: the model's output at each painted key must come back at this "
                                                   "PSNR (dB, full frame) or better, else it is marked failed and restyle "
                                                   "run/render refuse it; early stopping waits for it (default 12; 0 = accept "
                                                   "any finite look)"}),
            (("--lr",), "lr", {"metavar": "RATE", "type": bounded("lr"),
                               "help": "Adam learning rate (default 1e-3); training halves it itself after a divergence"}),
            (("--resume",), "resume", {"action": "store_const", "const": True,
                                       "help": "continue from MODEL.ckpt beside --out if it exists (a killed training "
                                               "resumed gives the same model as an unbroken one)"}),
            (("--checkpoint-every",), "checkpoint_every", {"metavar": "N", "type": bounded("checkpoint_every"),
                                                           "help": "write the resumable MODEL.ckpt every N steps "
                                                                   "(default 250; 0: only at the end)"}),
            (("--init",), "init", {"metavar": "EARLIER.onnx",
                                   "help": "start from an earlier (approved) model of this shot: an updated keyframe then "
                                           "changes the look without reshuffling its brushwork"}),
            (("--repass",), "repass", {"choices": ["auto", "colour", "full"],
                                       "help": "with --init: colour = keep every weight, refit only the output grade (for "
                                               "colour edits of the keyframe); full = fine-tune all weights; auto (default) "
                                               "= colour when the grade explains the new keyframe"}),
            (("--device",), "device", {"choices": list(DEVICES), "help": "where to train (default auto: CUDA if present)"}),
            (("--seed",), "seed", {"type": int, "help": "random seed; same inputs + seed on the same kind of device give the same model when it stops by --steps or the learnt rule, not the machine-speed --seconds cap (default 0)"}),
            (("--stability",), "stability", {"metavar": "R", "type": bounded("stability"),
                                             "help": "flicker target: consecutive plate frames of --frames teach the network to "
                                                     "move with the plate, as much as it takes to keep the output's change "
                                                     "between frames within R times the plate's own (render noise and grain then "
                                                     "do not become crawling brushwork); lower = steadier, less detailed; "
                                                     "0 = off (default 1.2)"}),
        ],
        "required": ["plate", "frames", "keys", "out"],
    },
    "run": {
        "help": "apply a trained model to a frame range of the plate",
        "args": [
            (("--model",), "model", {"metavar": "MODEL.onnx", "help": "model written by 'restyle train'"}),
            (("--plate",), "plate", {"metavar": "PATTERN", "help": PATTERN_HELP}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--out",), "out", {"metavar": "PATTERN", "help": "output sequence, e.g. cache/restyle.####.exr"}),
            (("--plate-colourspace",), "plate_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the plate")}),
            (("--out-colourspace",), "out_colourspace", {"metavar": "NAME", "help": "colourspace of the output, recorded in its EXR "
                                                                   "headers (default: EXR scene-linear: the plate's when it "
                                                                   "is scene-linear, else scene_linear; other types by file type)"}),
            (("--device",), "device", {"choices": list(DEVICES), "help": "where to run (default auto)"}),
            (("--backend",), "backend", {"choices": ["auto", "onnxruntime", "torch"],
                                         "help": "auto: torch CUDA when torch sees a GPU (the fastest measured), else onnxruntime "
                                                 "with TensorRT/CUDA if it has them, else onnxruntime CPU; the choice and why are "
                                                 "logged (docs/backends.md)"}),
            (("--dtype",), "dtype", {"choices": ["auto", "fp16", "fp32"],
                                     "help": "precision: torch's, and onnxruntime TensorRT's engine (auto: fp16 on CUDA and "
                                             "TensorRT; an fp16 model runs fp16)"}),
            (("--tile",), "tile", {"metavar": "PX", "type": bounded("tile"),
                                   "help": "process frames in overlapping PX-square tiles (for frames larger than GPU memory)"}),
            (("--batch",), "batch", {"metavar": "N", "type": bounded("batch"),
                                     "help": "frames per model call (default: 4 up to 2K, 1 above)"}),
            (("--detail",), "detail", {"metavar": "PX", "type": bounded("detail"),
                                       "help": "add the painted keyframes' own brushwork finer than PX pixels, carried to "
                                               "every frame along the plate's optical flow (re-seeded from the keyframe "
                                               "where the flow fails and the plate looks as at the key), for texture the "
                                               "network paints smooth; uses the paintings the model carries (models trained "
                                               "since 2026-12-05) or every --key it was trained on; costs two optical "
                                               "flows per frame on the CPU; default 8 when the paintings are at hand "
                                               "(the best look of the restyle validation, bench/README.md), else 0; "
                                               "0 = off"}),
            (("--texture",), "texture", {"action": "store_const", "const": True,
                                         "help": "rebuild every frame from the painted keyframes' own patches (guided "
                                                 "patch synthesis, as EbSynth, steered by the network's look, the plate "
                                                 "and the previous frame carried along the plate's optical flow): "
                                                 "keeps the paintings' outlines, flat patches and strokes that the "
                                                 "network paints soft; uses the paintings the model carries, or every --key it was trained on; "
                                                 "runs on the GPU when there is one; not with --detail"}),
            (("--key",), "keys", {"metavar": "FRAME=IMAGE", "action": "append", "type": _key_pair,
                                  "help": "for --detail or --texture from a model that does not carry its paintings: a painted "
                                          "keyframe it was trained on (checked by content hash)"}),
            (("--key-colourspace",), "key_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the keyframes")}),
        ],
        "required": ["model", "plate", "frames", "out"],
    },
    "deflicker": {
        "help": "settle flicker of a restyled sequence using the plate's motion",
        "args": [
            (("--input",), "input", {"metavar": "PATTERN", "help": "the flickering sequence; " + PATTERN_HELP}),
            (("--guide",), "guide", {"metavar": "PLATE_PATTERN", "help": "the plate whose motion guides the pass"}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--out",), "out", {"metavar": "PATTERN", "help": "output sequence"}),
            (("--handles",), "handles", {"metavar": "N", "type": bounded("handles"),
                                         "help": "extra frames read each side of the range (default: radius, 2 x radius for --mode both) "
                                                 "so a chunk equals a whole-shot render"}),
            (("--mode",), "mode", {"choices": ["global", "local", "both"],
                                   "help": "global: per-frame colour statistics smoothed over time; local: motion-compensated "
                                           "consistency along the plate's motion; both (default): global then local"}),
            (("--strength",), "strength", {"metavar": "0-1", "type": bounded("strength"), "help": "0 leaves frames alone, 1 (default) settles fully"}),
            (("--radius",), "radius", {"metavar": "N", "type": bounded("radius"), "help": "frames each side that each output frame looks at (default 4)"}),
            (("--vectors",), "vectors", {"choices": ["dis", "blender", "nuke"],
                                         "help": "plate motion: dis = optical flow (default); blender = the plate's Vector pass; "
                                                 "nuke = its forward/backward layers"}),
            (("--grade-nk",), "grade_nk", {"metavar": "FILE",
                                           "help": "also write the global correction as a Nuke Grade node with animated curves"}),
            (("--input-colourspace",), "input_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the input")}),
            (("--guide-colourspace",), "guide_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the plate")}),
            (("--device",), "device", {"choices": list(DEVICES),
                                       "help": "cpu: numpy/OpenCV path; cuda: torch on the GPU (same result); auto (default): GPU if present"}),
        ],
        "required": ["input", "guide", "frames", "out"],
    },
    "colourlock": {
        "help": "lock a sequence's colour to a reference and brand swatches; ΔE2000 QC report",
        "args": [
            (("--input",), "input", {"metavar": "PATTERN", "help": "sequence to correct; " + PATTERN_HELP}),
            (("--reference",), "reference", {"metavar": "IMAGE", "help": "approved frame whose colour is locked"}),
            (("--swatches",), "swatches", {"metavar": "JSON", "help": "brand swatches: name, rgb, colourspace, tolerance, region|mask"}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--out",), "out", {"metavar": "PATTERN", "help": "corrected output sequence"}),
            (("--report",), "report", {"metavar": "DIR", "help": "folder for the QC report (JSON + HTML)"}),
            (("--reference-colourspace",), "reference_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the reference")}),
            (("--input-colourspace",), "input_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the input")}),
            (("--check-only",), "check_only", {"action": "store_const", "const": True,
                                               "help": "write the QC report only; no frames"}),
            (("--method",), "method", {"choices": ["mkl", "lstsq"],
                                       "help": "mkl: match colour distributions (default); lstsq: pixel-aligned least squares"}),
            (("--sigma",), "sigma", {"metavar": "FRAMES", "type": bounded("sigma"),
                                     "help": "temporal smoothing of the correction, in frames (default 2)"}),
            (("--lut",), "lut", {"action": "store_const", "const": True,
                                 "help": "also fit a 33^3 3D LUT per frame for non-linear palette shifts "
                                         "(sRGB-encoded working values beyond [0, 2] clamp)"}),
            (("--device",), "device", {"choices": list(DEVICES),
                                       "help": "where the per-pixel lock runs (torch): cpu (default), cuda, or auto"}),
            (("--max-hold",), "max_hold", {"metavar": "TOLERANCES", "type": float,
                                           "help": "furthest a brand swatch's hold may move it after the lock, in "
                                                   "multiples of the swatch's tolerance (default 3); in a frame where "
                                                   "it is further off, the frames did not carry that colour there: "
                                                   "the swatch is not held in that frame and the QC fails (exit 3)"}),
        ],
        "required": ["input", "reference", "frames", "report"],
    },
    "metrics": {
        "help": "measure temporal stability (E_warp) and style fidelity of an output sequence",
        "args": [
            (("--output",), "output", {"metavar": "PATTERN", "help": "sequence to measure"}),
            (("--plate",), "plate", {"metavar": "PATTERN", "help": "plate whose motion defines E_warp"}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--reference",), "reference", {"metavar": "PATTERN", "help": "per-frame style references (PSNR, SSIM, texture)"}),
            (("--json",), "json", {"metavar": "FILE", "help": "write the figures as JSON"}),
            (("--output-colourspace",), "output_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the output")}),
            (("--plate-colourspace",), "plate_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the plate")}),
            (("--reference-colourspace",), "reference_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the references")}),
            (("--vectors",), "vectors", {"metavar": "LIST",
                                         "help": "plate motion for E_warp, a comma list, each reported: dis = DIS optical "
                                                 "flow, farneback = Farneback optical flow (default: dis,farneback; judge a "
                                                 "method that moves pixels along one flow with another); blender = the "
                                                 "plate's Vector pass; nuke = its forward/backward layers"}),
        ],
        "required": ["output", "plate", "frames", "json"],
    },
    "hash": {
        "help": "content hashes of a sequence's frames (decoded pixels), for cache keys and plate sign-off",
        "args": [
            (("--plate",), "plate", {"metavar": "PATTERN", "help": PATTERN_HELP}),
            (("--frames",), "frames", {"metavar": "A-B", "help": FRAMES_HELP}),
            (("--json",), "json", {"metavar": "FILE", "help": "write {\"frames\": {FRAME: SHA-256}} here "
                                                             "(default: print it)"}),
        ],
        "required": ["plate", "frames"],
    },
    "torchscript": {
        "help": "export a colour-only, single-keyframe model as TorchScript for Nuke's Inference node "
                "(turn it into a .cat with Nuke's CatFileCreator)",
        "args": [
            (("--model",), "model", {"metavar": "MODEL.onnx", "help": "model written by 'restyle train'"}),
            (("--out",), "out", {"metavar": "MODEL.pt", "help": "TorchScript file to write"}),
            (("--nuke-colourspace",), "nuke_colourspace", {"metavar": "NAME",
             "help": "the Nuke script's working space (linear), which the Inference node passes in and gets back; "
                     "OCIO name, alias or role (default scene_linear)"}),
            (("--nuke-version",), "nuke_version", {"metavar": "MAJOR.MINOR",
             "help": "the Nuke that will run it: when its torch (13: 1.6, 14-15.0: 1.12, 15.1+: 2.1; docs/nuke.md) is "
                     "older than this one, write OUT.kit/ (a script that builds OUT with that torch) instead of OUT"}),
        ],
        "required": ["model", "out"],
    },
}

def _stage_args(command: str, fields: set[str]) -> list[tuple]:
    """Another subcommand's flags for ``fields``, with their help, so a combined command says the same."""
    return [arg for arg in SUBCOMMANDS[command]["args"] if arg[1] in fields]


SUBCOMMANDS["render"] = {
    "help": "one streaming pass over a frame range: restyle, deflicker and colour-lock the plate into EXR frames",
    "args": _stage_args("run", {"model", "plate", "frames", "out", "plate_colourspace", "out_colourspace", "device",
                                "backend", "dtype", "tile", "batch", "detail", "texture", "keys",
                                "key_colourspace"}) + [
        (("--chunk",), "chunk", {"metavar": "N", "type": bounded("chunk"),
                                 "help": "output frames per chunk (default 32); memory holds a chunk and its handles"}),
        (("--skip-existing",), "skip_existing", {"action": "store_const", "const": True,
                                                 "help": "keep frames already in --out and render only the missing ones "
                                                         "(resume a killed render; every frame there is complete)"}),
        (("--deflicker",), "deflicker", {"choices": ["off", "global", "local", "both"],
                                         "help": "deflicker mode after the restyle (default both; off skips it)"}),
    ] + _stage_args("convert", {"compression"}) + _stage_args("deflicker", {"strength", "radius", "vectors"}) + [
        (("--reference",), "reference", {"metavar": "IMAGE",
                                         "help": "approved frame to colour-lock to (enables the ColourLock stage)"}),
        (("--report",), "report", {"metavar": "DIR", "help": "folder for the ColourLock QC report (with --reference)"}),
    ] + _stage_args("colourlock", {"swatches", "reference_colourspace", "method", "sigma", "lut", "max_hold"}),
    "required": ["model", "plate", "frames", "out"],
}

SUBCOMMANDS["bench"] = {
    "help": "measure each stage alone and the whole render on generated frames (frames/s, GPU and host memory)",
    "args": [
        (("--sizes",), "sizes", {"metavar": "WxH,...", "help": "frame sizes to measure (default 2048x1080,3840x2160)"}),
        (("--frames",), "frames", {"metavar": "N", "type": int, "help": "frames generated per size (default 64)"}),
        (("--chunk",), "chunk", {"metavar": "N", "type": bounded("chunk"), "help": "render chunk in frames (default 32)"}),
        (("--compression",), "compression", {"metavar": "LIST", "help": "output EXR compressions to measure, comma "
                                             "list (default zip; the renders run again with each further one)"}),
        (("--plate-compression",), "plate_compression", {"metavar": "NAME", "help": "the generated plate's EXR "
                                                         "compression (default zip; none measures the render "
                                                         "without the cost of decoding)"}),
        (("--scratch",), "scratch", {"metavar": "DIR", "help": "folder for the generated plates and the renders "
                                     "(default the system's temporary folder; /dev/shm leaves the disk out)"}),
        (("--device",), "device", {"choices": list(DEVICES), "help": "where to run (default auto: CUDA if present)"}),
        (("--out",), "out", {"metavar": "FILE.json", "help": "results file the figures are added to "
                             "(default bench/results/pipeline.json; other labels in it are kept)"}),
        (("--label",), "label", {"metavar": "NAME", "help": "name of this machine's entry (default: host name)"}),
    ],
    "required": [],
}

SUBCOMMANDS["gate"] = {
    "help": "the farm's QC gate: fail (exit 3) when any chunk's ColourLock report under a folder failed",
    "args": [
        (("--report",), "report", {"metavar": "DIR", "help": "folder holding the chunks' QC reports "
                                                            "(DIR/chunk.FIRST/report.json, as 'restyle submit' lays out)"}),
    ],
    "required": ["report"],
}

_RENDER_FIELDS = {dest for _flags, dest, _options in SUBCOMMANDS["render"]["args"]} - {"skip_existing"}
SUBCOMMANDS["submit"] = {
    "help": "write farm jobs for a shot (Deadline 10, OpenCue or Open Job Description): restyle render per frame "
            "chunk, a QC gate on the ColourLock reports (with --reference), then the Nuke comp per chunk",
    "args": [
        (("--farm",), "farm", {"choices": ["deadline", "opencue", "openjd"],
                               "help": "deadline: job + plugin info files for deadlinecommand; opencue: a pyoutline "
                                       "job spec (XML); openjd: farm/openjd/restyle_shot.yaml + its parameter values"}),
        (("--job-dir",), "job_dir", {"metavar": "DIR", "help": "folder the submission files are written to"}),
        (("--comp",), "comp", {"metavar": "SCRIPT.nk", "help": "the Nuke script rendered after the restyle (nuke -x)"}),
        (("--name",), "name", {"metavar": "NAME", "help": "job (shot) name (default: the comp script's name)"}),
        (("--chunk-size",), "chunk_size", {"metavar": "N", "type": bounded("chunk_size"),
                                           "help": "frames per farm task, for the render and the comp (default 64: "
                                                   "each render task pays about 11 s for its process start "
                                                   "and handles on an H100, bench/results/farm_chunks.json)"}),
        (("--engine-python",), "engine_python", {"metavar": "PYTHON",
                                                 "help": "the workers' Python with the engine installed "
                                                         "(default: this one)"}),
        (("--toolset",), "toolset", {"metavar": "DIR", "help": "this toolset's folder as workers see it: the comp's "
                                                               "NUKE_PATH (default: this one)"}),
        (("--nuke",), "nuke", {"metavar": "EXE", "help": "Nuke executable on the workers, for opencue and openjd "
                                                         "(default: nuke)"}),
        (("--nuke-version",), "nuke_version", {"metavar": "MAJOR.MINOR",
                                               "help": "deadline: the Nuke version its Nuke plug-in runs, e.g. 15.1 "
                                                       "(required there)"}),
        (("--pool",), "pool", {"metavar": "NAME", "help": "deadline: the jobs' pool"}),
        (("--gpu-group",), "gpu_group", {"metavar": "NAME",
                                         "help": "GPU workers for the render: the Deadline group, or the OpenCue "
                                                 "layer tag"}),
        (("--priority",), "priority", {"metavar": "0-100", "type": bounded("priority"),
                                       "help": "deadline and opencue: job priority (default 50)"}),
        (("--show",), "show", {"metavar": "NAME", "help": "opencue: the show the job belongs to "
                                                          "(default: pyoutline's default_show)"}),
        (("--submit",), "submit", {"action": "store_const", "const": True,
                                   "help": "deadline: also submit the jobs with deadlinecommand (found through "
                                           "$DEADLINE_PATH or PATH); without it the command is only printed"}),
    ] + _stage_args("render", _RENDER_FIELDS),
    "required": ["farm", "job_dir", "comp", "model", "plate", "frames", "out"],
}

# Fields that must hold a sequence pattern ("reference" is a sequence for metrics but a
# single image for colourlock, so each stage checks it itself).
PATTERN_ARGS = {"plate", "input", "guide", "output"}
OUT_PATTERN_STAGES = {"run", "deflicker", "colourlock", "convert", "render", "submit"}
# What each command writes (submit: also what its farm jobs will write), checked against what it
# reads before any work (inference/job_paths.py); metrics reads its --reference as a sequence, and
# submit's farm workers, not this machine, read the colour reference, swatches and paintings.
# A folder lists what is written in it (tests/test_output_guard.py checks the lists against real runs).
QC_REPORT = Folder(("report.json", "report.html", "delta_e.png", "cube"))  # --lut's .cube files go in cube/
FARM_REPORTS = Folder(("chunk.*",))  # each render chunk's QC report, REPORT/chunk.FIRST
JOB_FILES = Folder(("submit.sh", "*.job", "opencue_job.xml", "opencue_session", "restyle_shot.yaml",
                    "parameter_values.json"))
WRITES: dict[str, dict[str, str | Folder]] = {
    "demo": {"out": FOLDER}, "inspect": {"json": FILE}, "convert": {"out": SEQUENCE}, "train": {"out": FILE},
    "run": {"out": SEQUENCE}, "deflicker": {"out": SEQUENCE, "grade_nk": FILE},
    "colourlock": {"out": SEQUENCE, "report": QC_REPORT}, "metrics": {"json": FILE}, "hash": {"json": FILE},
    "torchscript": {"out": FILE}, "render": {"out": SEQUENCE, "report": QC_REPORT}, "bench": {"out": FILE},
    "gate": {}, "submit": {"out": SEQUENCE, "report": FARM_REPORTS, "job_dir": JOB_FILES},
}
READS_AS = {"metrics": {"reference": SEQUENCE},
            "submit": {"reference": FARM_FILE, "swatches": FARM_FILE, "keys": FARM_FILE}}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="restyle",
        description="Restyle plates toward a painted look, settle flicker, lock colour. "
                    "Frames travel as EXR/PNG sequences; every subcommand also reads a JSON "
                    "job manifest (--manifest) whose fields match the flags.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in SUBCOMMANDS.items():
        cmd = sub.add_parser(name, help=spec["help"], description=spec["help"][0].upper() + spec["help"][1:] + ".")
        for flags, dest, options in spec["args"]:
            cmd.add_argument(*flags, dest=dest, default=None, **options)
        cmd.add_argument("--manifest", metavar="JOB.json",
                         help="JSON job manifest holding these fields; flags given here override it")
        cmd.add_argument("--threads", type=bounded("threads"), default=None, metavar="N",
                         help="file I/O threads (default: every core)")
        cmd.add_argument("--progress", choices=MODES, default="text",
                         help="progress on stderr: text lines, JSON lines (for Nuke/farm), or none")
        cmd.add_argument("-v", "--verbose", action="store_true", help="print a traceback on internal errors")
    return parser


def job_from_args(command: str, args: argparse.Namespace) -> dict[str, Any]:
    """Merge manifest fields and flags (flags win), then check required fields."""
    job: dict[str, Any] = manifest_mod.load(args.manifest) if args.manifest else {}
    if job.get("stage") not in (None, command):
        raise UsageError(f"manifest {args.manifest} is for stage '{job['stage']}', not '{command}'")
    for _flags, dest, _options in SUBCOMMANDS[command]["args"]:
        value = getattr(args, dest)
        if value is not None:
            job[dest] = dict(value) if dest == "keys" else value
    if args.threads is not None:
        job["threads"] = args.threads
    missing = [f for f in SUBCOMMANDS[command]["required"] if f not in job]
    if missing:
        names = ", ".join(flag_of(command, f) for f in missing)
        raise UsageError(f"restyle {command} needs {names} (as flags or manifest fields)")
    for field in PATTERN_ARGS & job.keys():
        SequencePattern.parse(job[field])
    if command in OUT_PATTERN_STAGES and "out" in job:
        SequencePattern.parse(job["out"])
    if "frames" in job and command != "demo":
        parse_frame_range(job["frames"])
    return job


def flag_of(command: str, field: str) -> str:
    """The command-line flag of a manifest field (``keys`` -> ``--key``)."""
    flags = {dest: flags[0] for flags, dest, _options in SUBCOMMANDS[command]["args"]}
    return flags.get(field, "--" + field.replace("_", "-"))


def check_paths(command: str, job: dict[str, Any], manifest: str | None) -> None:
    """Before any work: the job's input files are there and none of its outputs writes over one."""
    check_job_paths(job, {**READS, **READS_AS.get(command, {})}, WRITES[command],
                    lambda field: flag_of(command, field), manifest)


def command_args(command: str, job: dict[str, Any]) -> list[str]:
    """The flags that hand ``job`` to ``restyle COMMAND`` (job_from_args of them gives ``job`` back).

    Raises:
        ValueError: a field that is not one of the command's flags.
    """
    specs = {dest: (flags[0], options) for flags, dest, options in SUBCOMMANDS[command]["args"]}
    args: list[str] = []
    for field, value in job.items():
        if field == "threads":
            args += ["--threads", str(value)]
            continue
        if field not in specs:
            raise ValueError(f"restyle {command} has no flag for field '{field}'")
        flag, options = specs[field]
        if options.get("action") == "store_const":
            args += [flag] if value == options["const"] else []
        elif field == "keys":
            args += [a for frame, path in value.items() for a in (flag, f"{frame}={path}")]
        elif isinstance(value, list):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    return args


def run_inspect(job: dict[str, Any], progress: str) -> int:
    from .inspection import inspect_sequence

    pattern = SequencePattern.parse(job["plate"])
    on_disk = pattern.existing_frames()
    if "frames" not in job and not on_disk:
        raise UsageError(f"{pattern}: no frames on disk and no --frames given")
    # without --frames, every frame from the first to the last on disk: a hole is reported (exit 66)
    frames = parse_frame_range(job["frames"]) if "frames" in job else list(range(on_disk[0], on_disk[-1] + 1))
    summary = inspect_sequence(pattern, frames, threads=job.get("threads"), progress_mode=progress)
    print(json.dumps(summary, indent=2))
    if "json" in job:
        Path(job["json"]).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def run_convert(job: dict[str, Any], progress: str) -> int:
    from .convert import convert_sequence

    written = convert_sequence(
        SequencePattern.parse(job["input"]), parse_frame_range(job["frames"]), SequencePattern.parse(job["out"]),
        src_space=job.get("input_colourspace"), dst_space=job.get("out_colourspace"),
        dtype=job.get("dtype"), compression=job.get("compression"), threads=job.get("threads"),
        progress_mode=progress)
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def run_train(job: dict[str, Any], progress: str) -> int:
    from .colour import WORKING_ENCODING
    from .restyle.train import TrainSettings, train

    defaults = TrainSettings()
    settings = TrainSettings(**{k: job.get(k, getattr(defaults, k)) for k in
                                ("steps", "seconds", "plateau", "seed", "device", "checkpoint_every", "stability",
                                 "key_psnr", "lr", "onnx_dtype")})
    keys, frames = _keys(job), parse_frame_range(job["frames"])
    outside = sorted(set(keys) - set(frames))
    if outside:
        print(f"restyle train: warning: --key {', '.join(map(str, outside))} outside --frames {job['frames']}: "
              "the key is learnt from its plate frame, but check the numbers (a typo trains the wrong frame)",
              file=sys.stderr)
    train(SequencePattern.parse(job["plate"]), keys, job["out"], settings=settings, guides=job.get("guides"),
          frames=frames,
          plate_space=job.get("plate_colourspace"), key_space=job.get("key_colourspace"),
          working=job.get("working_colourspace", WORKING_ENCODING), resume=job.get("resume", False), init=job.get("init"),
          repass=job.get("repass", "auto"), progress_mode=progress)
    return 0


def _keys(job: dict[str, Any]) -> dict[int, str]:
    """The job's painted keyframes, frame -> image (none when it has no ``keys`` field)."""
    return {int(frame): path for frame, path in job.get("keys", {}).items()}


def run_run(job: dict[str, Any], progress: str) -> int:
    from .restyle.apply import restyle_frames

    written = restyle_frames(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), plate_space=job.get("plate_colourspace"),
        out_space=job.get("out_colourspace"), backend=job.get("backend", "auto"), device=job.get("device", "auto"),
        dtype=job.get("dtype", "auto"), tile=job.get("tile"), batch=job.get("batch"), threads=job.get("threads"),
        progress_mode=progress, detail=job.get("detail"), texture=job.get("texture", False),
        keys=_keys(job), key_space=job.get("key_colourspace"))
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def _hold(job: dict[str, Any]):
    """The job's swatch-hold settings (HoldSettings' defaults for the fields it leaves out)."""
    from .colourlock.apply import HoldSettings

    return HoldSettings(**{field: job[field] for field in ("max_hold",) if field in job})


def run_render(job: dict[str, Any], progress: str) -> int:
    from .colourlock.qc import verdict
    from .pipeline import ColourLockStage, DeflickerStage, render_shot

    mode = job.get("deflicker", "both")
    deflicker = None if mode == "off" else DeflickerStage(mode, job.get("strength", 1.0), job.get("radius", 4),
                                                          job.get("vectors", "dis"))
    colourlock = None
    if "reference" in job:
        if "report" not in job:
            raise UsageError("restyle render --reference needs --report DIR for the ColourLock QC report")
        colourlock = ColourLockStage(job["reference"], job["report"], job.get("swatches"), job.get("reference_colourspace"),
                                     job.get("method", "mkl"), job.get("sigma", 2.0), job.get("lut", False), _hold(job))
    summary = render_shot(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), deflicker=deflicker, colourlock=colourlock,
        plate_space=job.get("plate_colourspace"), out_space=job.get("out_colourspace"),
        backend=job.get("backend", "auto"), device=job.get("device", "auto"), dtype=job.get("dtype", "auto"),
        batch=job.get("batch"), tile=job.get("tile"), chunk=job.get("chunk", 32),
        compression=job.get("compression"), skip_existing=job.get("skip_existing", False), threads=job.get("threads"),
        progress_mode=progress, detail=job.get("detail"), texture=job.get("texture", False),
        keys=_keys(job), key_space=job.get("key_colourspace"))
    written, seconds = len(summary["frames"]), summary["seconds"]
    print(f"wrote {written} frame(s) to {SequencePattern.parse(job['out'])} in {seconds:.1f} s "
          f"({written / max(seconds, 1e-9):.2f} frames/s, {summary['cpu_seconds'] / max(written, 1):.3f} CPU s/frame)")
    print("time per stage: " + ", ".join(f"{stage} {s:.2f} s" for stage, s in summary["stages"].items()))
    if "stage_peak_gpu_gb" in summary:
        print(_gpu_peak_line(summary["stage_peak_gpu_gb"]))
    if colourlock and "report" in summary:
        print(verdict(summary["report"], job["report"]))
        return 0 if summary["report"]["passed"] else EX_QC_FAILED
    return 0


def _gpu_peak_line(peaks: dict[str, float]) -> str:
    """The render's peak GPU memory and, per stage, its own peak (GB)."""
    stages = {stage: gb for stage, gb in peaks.items() if stage != "overall"}
    line = f"peak GPU memory {peaks['overall']:.1f} GB"
    if stages:
        line += (f" (largest in {max(stages, key=stages.get)}: "
                 + ", ".join(f"{stage} {gb:.1f}" for stage, gb in stages.items()) + ")")
    return line


def run_metrics(job: dict[str, Any], progress: str) -> int:
    from .measure import DEFAULT_VECTORS, measure

    reference = SequencePattern.parse(job["reference"]) if "reference" in job else None
    figures = measure(SequencePattern.parse(job["output"]), SequencePattern.parse(job["plate"]),
                      parse_frame_range(job["frames"]), reference=reference,
                      output_space=job.get("output_colourspace"), plate_space=job.get("plate_colourspace"),
                      reference_space=job.get("reference_colourspace"), vectors=job.get("vectors", DEFAULT_VECTORS),
                      threads=job.get("threads"),
                      progress_mode=progress)
    text = json.dumps(figures, indent=2)
    print(text)
    Path(job["json"]).parent.mkdir(parents=True, exist_ok=True)
    Path(job["json"]).write_text(text + "\n")
    return 0


def run_deflicker(job: dict[str, Any], progress: str) -> int:
    from .temporal.deflicker import deflicker_sequence

    written = deflicker_sequence(
        SequencePattern.parse(job["input"]), SequencePattern.parse(job["guide"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), mode=job.get("mode", "both"), strength=job.get("strength", 1.0),
        radius=job.get("radius", 4), handles=job.get("handles"), vectors=job.get("vectors", "dis"),
        source_space=job.get("input_colourspace"), guide_space=job.get("guide_colourspace"),
        grade_nk=job.get("grade_nk"), device=job.get("device", "auto"), threads=job.get("threads"),
        progress_mode=progress)
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def run_colourlock(job: dict[str, Any], progress: str) -> int:
    from .colourlock.lock import colourlock_sequence
    from .colourlock.qc import verdict

    check_only = job.get("check_only", False)
    if not check_only and "out" not in job:
        raise UsageError("restyle colourlock needs --out (or --check-only)")
    report = colourlock_sequence(
        SequencePattern.parse(job["input"]), job["reference"], parse_frame_range(job["frames"]),
        None if check_only else SequencePattern.parse(job["out"]), job["report"], swatches_path=job.get("swatches"),
        source_space=job.get("input_colourspace"), reference_space=job.get("reference_colourspace"),
        method=job.get("method", "mkl"), sigma=job.get("sigma", 2.0), lut=job.get("lut", False), hold=_hold(job),
        device=job.get("device", "cpu"),
        threads=job.get("threads"), progress_mode=progress)
    print(verdict(report, job["report"]))
    return 0 if report["passed"] else EX_QC_FAILED


def run_demo(job: dict[str, Any], progress: str) -> int:
    from .demo.run import run_demo as demo

    demo(Path(job.get("out", "restyle_demo")), frames=job.get("frames", 24), size=job.get("size", "640x360"),
         seed=job.get("seed", 7), train_seconds=job.get("seconds", 60.0), progress_mode=progress)
    return 0


def run_hash(job: dict[str, Any], progress: str) -> int:
    from .frame_hash import hash_frames

    hashes = dict(hash_frames(SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
                              threads=job.get("threads"), progress_mode=progress))
    text = json.dumps({"frames": {str(f): h for f, h in hashes.items()}}, indent=1)
    if "json" in job:
        Path(job["json"]).write_text(text + "\n")
    else:
        print(text)
    return 0


def run_torchscript(job: dict[str, Any], progress: str) -> int:
    from .restyle.torchscript import export_torchscript

    written = export_torchscript(job["model"], job["out"], job.get("nuke_colourspace", "scene_linear"),
                                 job.get("nuke_version"))
    print(f"wrote {written}")
    return 0


def run_bench(job: dict[str, Any], progress: str) -> int:
    from .pipeline_bench import DEFAULT_CHUNK, run_bench as bench

    sizes = job.get("sizes", "2048x1080,3840x2160").split(",")
    for size in sizes:
        width, sep, height = size.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit() and int(width) >= 64 and int(height) >= 64):
            raise UsageError(f"--sizes: '{size}' is not WIDTHxHEIGHT of at least 64x64 (e.g. 2048x1080)")
    if job.get("frames", 64) < 2:
        raise UsageError("--frames must be at least 2")
    if job.get("scratch") and not Path(job["scratch"]).is_dir():
        raise UsageError(f"--scratch: '{job['scratch']}' is not a folder")
    bench(sizes, job.get("frames", 64), job.get("chunk", DEFAULT_CHUNK), job.get("device", "auto"), job.get("label"),
          Path(job.get("out", "bench/results/pipeline.json")), job.get("compression", "zip").split(","),
          job.get("plate_compression", "zip"), job.get("scratch"))
    return 0


def run_gate(job: dict[str, Any], progress: str) -> int:
    from .farm.gate import check_reports

    reports, failed = check_reports(Path(job["report"]))
    print(f"QC gate: {len(reports)} report(s), {len(failed)} failed")
    if failed:
        print(f"QC gate FAILED: {', '.join(str(r) for r in failed)}")
        return EX_QC_FAILED
    return 0


def run_submit(job: dict[str, Any], progress: str) -> int:
    from .farm import write_submission
    from .farm.shot import shot_from_job

    written = write_submission(job["farm"], shot_from_job(job), Path(job["job_dir"]))
    print(f"wrote {len(written.files)} file(s) to {job['job_dir']}")
    if job.get("submit"):
        from .farm.deadline import submit

        print(f"submitted to Deadline: {', '.join(submit(written))}")
    else:
        print(f"to {'run' if job['farm'] == 'openjd' else 'submit'} it: {written.script} ({shlex.join(written.command)})")
    return 0


RUNNERS: dict[str, Callable[[dict[str, Any], str], int]] = {
    "demo": run_demo, "inspect": run_inspect, "convert": run_convert,
    "train": run_train, "run": run_run, "deflicker": run_deflicker, "colourlock": run_colourlock, "metrics": run_metrics,
    "hash": run_hash, "torchscript": run_torchscript, "render": run_render, "bench": run_bench, "gate": run_gate,
    "submit": run_submit,
}


def _quiet_stdout() -> None:
    """After a closed output pipe: send what is still buffered to /dev/null, so the interpreter's
    last flush does not print a BrokenPipeError of its own."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests' captured output)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (--help prints and exits, as argparse does)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed a usage error (64), or the help (0: exit as asked)
        if not exc.code:
            raise
        return int(exc.code)
    try:
        job = job_from_args(args.command, args)
        check_paths(args.command, job, args.manifest)
        return RUNNERS[args.command](job, args.progress)
    except RestyleError as exc:
        print(f"restyle {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `restyle inspect ... | head`: the reader has what it wanted
        _quiet_stdout()
        return EX_PIPE
    except KeyboardInterrupt:
        print(f"restyle {args.command}: cancelled; frames already written are complete", file=sys.stderr)
        return EX_CANCELLED
    except Exception as exc:  # a bug, not bad input: say so in one line, trace on request
        if args.verbose:
            traceback.print_exc()
        print(f"restyle {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --verbose for the traceback)", file=sys.stderr)
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
