"""What each ``restyle`` command takes: its flags (with their manifest fields, help and argparse
options), the fields it cannot run without, and what it reads and writes.

The CLI (:mod:`inference.cli`) builds its argparse parser from :data:`SUBCOMMANDS`; a job's fields are
checked against it (:mod:`.job`) and turned back into flags (:mod:`.argv`) from it.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Callable

from ..colourlock.settings import ColourLockSettings, HoldSettings
from ..demo.settings import DemoSettings
from ..devices import DEVICES
from ..farm.settings import DEFAULT_CHUNK_SIZE, DEFAULT_PRIORITY
from ..job_paths import FARM_FILE, FILE, FOLDER, SEQUENCE, Folder
from ..render_settings import RenderBenchSettings, RenderSettings
from ..restyle.settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS, TrainSettings
from ..temporal.settings import VECTORS, DeflickerSettings
from .fields import FIELDS, in_range, range_text

# The stages' defaults as the help states them: read from their settings, where each is written once.
TRAIN, DEFLICKER, HOLD = TrainSettings(), DeflickerSettings(), HoldSettings()
DEMO, BENCH = DemoSettings(), RenderBenchSettings()

FRAMES_HELP = "frame range, Nuke syntax: 1001-1100, 1001-1100x2, 1001,1005-1010"
PATTERN_HELP = "image sequence: name.####.exr, name.%%04d.exr or name.@@@@.exr (EXR, PNG, TIFF, JPEG, DPX)"
SPACE_HELP = ("OCIO colourspace, alias or role of {what} (config: --ocio-config, else $OCIO, else OCIO's "
              "built-in ACES studio config); default: the one an EXR records in its header, else by file type: EXR "
              "scene_linear, DPX compositing_log, PNG/JPEG/TIFF texture_paint (sRGB)")



OCIO_ARG = (("--ocio-config",), "ocio_config", {
    "metavar": "CONFIG", "help": "OCIO config every colourspace of this job is in: a config.ocio file or an "
                                 "ocio:// built-in (e.g. ocio://studio-config-latest); default $OCIO, else "
                                 "OCIO's built-in ACES studio config. Logged at the start, named in QC reports"})


def bounded(field: str) -> Callable[[str], int | float]:
    """argparse ``type`` of a numeric flag: its field's type and range (:data:`.fields.FIELDS`, the one
    place both are set), so a flag and a manifest accept the same values."""
    spec = FIELDS[field]
    integer = spec["type"] == "integer"

    def parse(text: str) -> int | float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and in_range(spec, value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not {range_text(spec)}")
        return value

    return parse



def _exponent(value: float) -> str:
    """A small number as the help writes it: 0.001 -> '1e-3'."""
    mantissa, _, power = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(power)}"


def _comma_list(text: str) -> list[str]:
    return [g.strip() for g in text.split(",") if g.strip()]


def _key_pair(text: str) -> tuple[str, str]:
    frame, sep, path = text.partition("=")
    if not sep or not frame.strip().lstrip("-").isdigit() or not path:
        raise argparse.ArgumentTypeError(f"'{text}' is not FRAME=IMAGE (e.g. 1001=paint/key.1001.png)")
    return frame.strip(), path


# Each subcommand: help, description, arguments as (flags, manifest field, argparse options),


# restyle run's and deflicker's (and so render's, where one flag sets both)
VECTORS_ARG = (("--vectors",), "vectors", {
    "choices": list(VECTORS),
    "help": "the plate's motion, which the keys' brushwork (--detail) rides and the deflicker follows: dis = "
            "optical flow; blender = the plate's Vector pass; nuke = its forward/backward layers; auto = those "
            "the plate's first frame carries, else optical flow (a render's own vectors are exact where optical "
            "flow is lost on flat sky and ground). Default: auto for the brushwork, dis for the deflicker"})

SUBCOMMANDS: dict[str, dict[str, Any]] = {
    "demo": {
        "help": "generate a procedural plate and painted keyframe, run every available stage",
        "args": [
            (("--out",), "out", {"metavar": "DIR", "help": "folder for the demo's EXR frames, "
                                 f"keyframe, manifest and contact sheet (default: ./{DEMO.out})"}),
            (("--frames",), "frames", {"metavar": "N", "type": int,
                                       "help": f"number of frames to generate (default {DEMO.frames})"}),
            (("--size",), "size", {"metavar": "WxH", "help": f"plate resolution (default {DEMO.size})"}),
            (("--seed",), "seed", {"type": int, "help": f"seed of the procedural textures (default {DEMO.seed})"}),
            (("--train-seconds",), "seconds", {"metavar": "S", "type": bounded("seconds"),
                                               "help": f"training time for the restyle stage (default {DEMO.train_seconds:g})"}),
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
            (("--plate-colourspace",), "plate_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the plate")}),
            (("--key-colourspace",), "key_colourspace", {"metavar": "NAME", "help": SPACE_HELP.format(what="the keyframes")}),
            (("--working-colourspace",), "working_colourspace", {"metavar": "NAME",
             "help": "encoding the model works in (default: sRGB Encoded Rec.709 (sRGB))"}),
            (("--guides",), "guides", {"metavar": "LIST", "type": _comma_list,
                                        "help": "extra inputs from the plate: comma list of normals, depth (render AOVs), position"}),
            (("--steps",), "steps", {"metavar": "N", "type": bounded("steps"),
                                     "help": f"stop after N training steps (default {TRAIN.steps}, about a minute of 2K on a GPU)"}),
            (("--seconds",), "seconds", {"metavar": "S", "type": bounded("seconds"),
                                         "help": f"stop after S seconds of training (default {TRAIN.seconds:g}: ten minutes on a CPU)"}),
            (("--no-plateau",), "plateau", {"action": "store_const", "const": False,
                                            "help": "do not stop early when the look is learnt (every key reproduced at "
                                                    "--key-psnr and neither they, nor tiles of the keys held back from "
                                                    "training, nor the texture of the frame of --frames farthest from the "
                                                    "keys still improving); train to --steps/--seconds"}),
            (("--key-psnr",), "key_psnr", {"metavar": "DB", "type": bounded("key_psnr"),
                                           "help": "key check: the model's output at each painted key must come back at this "
                                                   "PSNR (dB, full frame) or better, else it is marked failed and restyle "
                                                   f"run/render refuse it; early stopping waits for it (default {TRAIN.key_psnr:g}; 0 = accept "
                                                   "any finite look)"}),
            (("--lr",), "lr", {"metavar": "RATE", "type": bounded("lr"),
                               "help": f"Adam learning rate (default {_exponent(TRAIN.lr)}); training halves it itself "
                                       "after a divergence"}),
            (("--onnx-dtype",), "onnx_dtype", {"choices": ["fp32", "fp16"],
                                               "help": f"precision of the ONNX model's weights and arithmetic (default {TRAIN.onnx_dtype}; "
                                                       "fp16: half the file, within 0.01 of fp32; input and output stay float32)"}),
            (("--resume",), "resume", {"action": "store_const", "const": True,
                                       "help": "continue from MODEL.ckpt beside --out if it exists (a killed training "
                                               "resumed gives the same model as an unbroken one)"}),
            (("--checkpoint-every",), "checkpoint_every", {"metavar": "N", "type": bounded("checkpoint_every"),
                                                           "help": "write the resumable MODEL.ckpt every N steps "
                                                                   f"(default {TRAIN.checkpoint_every}; 0: only at the end)"}),
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
                                                     f"0 = off (default {TRAIN.stability:g})"}),
            (("--unpainted-weight",), "unpainted_weight", {
                "metavar": "W", "type": bounded("unpainted_weight"),
                "help": "where a painting's alpha is below 1 its key teaches the plate's own colour, at W times a "
                        "painted pixel's weight: paint only the hero and the rest follows the plate (or another key "
                        f"that paints it); 0 = unpainted pixels teach nothing (default {TRAIN.unpainted_weight:g})"}),
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
                                               f"flows per frame on the CPU (none along --vectors); default {DEFAULT_DETAIL_PX:g} "
                                               f"along optical flow, {DEFAULT_DETAIL_PX_VECTORS:g} along the plate's own vectors, "
                                               "when the paintings are at hand (the best looks of the restyle validation, "
                                               "bench/README.md), else 0; 0 = off"}),
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
            VECTORS_ARG,
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
            (("--radius",), "radius", {"metavar": "N", "type": bounded("radius"), "help": f"frames each side that each output frame looks at (default {DEFLICKER.radius})"}),
            VECTORS_ARG,
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
                                     "help": f"temporal smoothing of the correction, in frames (default {ColourLockSettings.sigma:g})"}),
            (("--lut",), "lut", {"action": "store_const", "const": True,
                                 "help": "also fit a 33^3 3D LUT per frame for non-linear palette shifts "
                                         "(sRGB-encoded working values beyond [0, 2] clamp)"}),
            (("--device",), "device", {"choices": list(DEVICES),
                                       "help": "where the per-pixel lock runs (torch): cpu (default), cuda, or auto"}),
            (("--max-hold",), "max_hold", {"metavar": "TOLERANCES", "type": float,
                                           "help": "furthest a brand swatch's hold may move it after the lock, in "
                                                   f"multiples of the swatch's tolerance (default {HOLD.max_hold:g}); in a frame where "
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
            (("--curve",), "curve", {"metavar": "PNG", "help": "also draw each frame's E_warp against the frame "
                                     "before, as a ratio to the plate's, by each flow (where the result pops)"}),
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

# The commands that convert colour take the job's OCIO config (render and submit through run's).
COLOUR_COMMANDS = ("convert", "train", "run", "deflicker", "colourlock", "metrics", "torchscript")
for _command in COLOUR_COMMANDS:
    SUBCOMMANDS[_command]["args"].append(OCIO_ARG)


def _stage_args(command: str, fields: set[str]) -> list[tuple]:
    """Another subcommand's flags for ``fields``, with their help, so a combined command says the same."""
    return [arg for arg in SUBCOMMANDS[command]["args"] if arg[1] in fields]


SUBCOMMANDS["render"] = {
    "help": "one streaming pass over a frame range: restyle, deflicker and colour-lock the plate into EXR frames",
    "args": _stage_args("run", {"model", "plate", "frames", "out", "plate_colourspace", "out_colourspace", "device",
                                "backend", "dtype", "tile", "batch", "detail", "texture", "keys",
                                "key_colourspace", "ocio_config"}) + [
        (("--chunk",), "chunk", {"metavar": "N", "type": bounded("chunk"),
                                 "help": f"output frames per chunk (default {RenderSettings.chunk}; the first chunk is "
                                         f"{RenderSettings.first_chunk} frames, so the first frames land soon); memory "
                                         "holds a chunk and its handles"}),
        (("--skip-existing",), "skip_existing", {"action": "store_const", "const": True,
                                                 "help": "keep frames already in --out and render only the missing ones "
                                                         "(resume a killed render; every frame there is complete)"}),
        (("--deflicker",), "deflicker", {"choices": ["off", "global", "local", "both"],
                                         "help": f"deflicker mode after the restyle (default {DEFLICKER.mode}; off skips it)"}),
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
        (("--sizes",), "sizes", {"metavar": "WxH,...", "help": f"frame sizes to measure (default {BENCH.sizes})"}),
        (("--frames",), "frames", {"metavar": "N", "type": int, "help": f"frames generated per size (default {BENCH.frames})"}),
        (("--chunk",), "chunk", {"metavar": "N", "type": bounded("chunk"), "help": f"render chunk in frames (default {RenderSettings.chunk})"}),
        (("--compression",), "compression", {"metavar": "LIST", "help": "output EXR compressions to measure, comma "
                                             f"list (default {BENCH.compression}; the renders run again with each "
                                             "further one)"}),
        (("--plate-compression",), "plate_compression", {"metavar": "NAME", "help": "the generated plate's EXR "
                                                         f"compression (default {BENCH.plate_compression}; none "
                                                         "measures the render without the cost of decoding)"}),
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

SUBCOMMANDS["serve"] = {
    "help": "a warm engine: run the jobs sent on stdin as JSON lines, one at a time, keeping torch, CUDA and "
            "the looks loaded between them (the Nuke plug-in keeps one per session; protocol in "
            "inference/jobs/serve.py)",
    "args": [
        (("--idle-minutes",), "idle_minutes", {"metavar": "M", "type": bounded("idle_minutes"),
                                               "help": "exit after M minutes without a job (default: run until stdin "
                                                       "ends)"}),
    ],
    "required": [],
}

_RENDER_FIELDS = {dest for _flags, dest, _options in SUBCOMMANDS["render"]["args"]} - {"skip_existing"}
SUBCOMMANDS["submit"] = {
    "help": "write farm jobs for a shot (Deadline 10, OpenCue or Open Job Description): with --node a Nuke prep "
            "per frame chunk, restyle render per chunk, a QC gate on the ColourLock reports (with --reference), "
            "then the Nuke comp per chunk",
    "args": [
        (("--farm",), "farm", {"choices": ["deadline", "opencue", "openjd"],
                               "help": "deadline: job + plugin info files for deadlinecommand; opencue: a pyoutline "
                                       "job spec (XML); openjd: the toolset's Open Job Description template (restyle_shot.yaml) + its parameter values"}),
        (("--job-dir",), "job_dir", {"metavar": "DIR", "help": "folder the submission files are written to"}),
        (("--comp",), "comp", {"metavar": "SCRIPT.nk", "help": "the Nuke script rendered after the restyle (nuke -x)"}),
        (("--name",), "name", {"metavar": "NAME", "help": "job (shot) name (default: the comp script's name)"}),
        (("--node",), "node", {"metavar": "NODE", "help": "the toolset node in --comp whose approved version "
                                                          "--out is: adds the Nuke prep step before the renders "
                                                          "(nuke -t renders the node's inputs that are not plain "
                                                          "Reads and checks its plate against the approval)"}),
        (("--chunk-size",), "chunk_size", {"metavar": "N", "type": bounded("chunk_size"),
                                           "help": f"frames per farm task, for the render and the comp (default {DEFAULT_CHUNK_SIZE}: "
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
                                       "help": f"deadline and opencue: job priority (default {DEFAULT_PRIORITY})"}),
        (("--show",), "show", {"metavar": "NAME", "help": "opencue: the show the job belongs to "
                                                          "(default: pyoutline's default_show)"}),
        (("--views",), "views", {"metavar": "LIST", "type": _comma_list,
                                 "help": "the comp's views (Nuke's Project Settings > Views), comma list, when --plate "
                                         "and --out name each view's files with Nuke's %%V (the view's name) or %%v (its "
                                         "first letter): each render task renders its chunk once per view, into that "
                                         "view's files (default: one view, no %%V)"}),
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
    "colourlock": {"out": SEQUENCE, "report": QC_REPORT}, "metrics": {"json": FILE, "curve": FILE}, "hash": {"json": FILE},
    "torchscript": {"out": FILE}, "render": {"out": SEQUENCE, "report": QC_REPORT}, "bench": {"out": FILE},
    "gate": {}, "serve": {}, "submit": {"out": SEQUENCE, "report": FARM_REPORTS, "job_dir": JOB_FILES},
}
READS_AS = {"metrics": {"reference": SEQUENCE},
            "submit": {"reference": FARM_FILE, "swatches": FARM_FILE, "keys": FARM_FILE}}

