"""The ``minidl`` command: train zoo models, evaluate checkpoints, list the zoo, build the
visualization gallery.

    minidl train lenet5 --data mnist --data-dir ../shared/data/mnist --val-split 0.2 --epochs 10
    minidl eval runs/lenet5-mnist/checkpoint.ckpt
    minidl models resnet20 resnet18 --out complexity.png
    minidl demo                                   # train small_cnn on Shapes, minidl-gallery/index.html
    minidl demo --checkpoint runs/lenet5-mnist/checkpoint.ckpt --out lenet-gallery
    minidl viz gradcam --checkpoint runs/lenet5-mnist/checkpoint.ckpt --image index:3 --out cam.png

Each subcommand is a pair of small functions: ``add_<name>(subparsers)`` declares its
arguments and sets ``run=cmd_<name>``, which gets the parsed arguments and returns an exit
code. To add one, write the pair and list ``add_<name>`` in ``SUBCOMMANDS``; keep imports of
heavy modules inside ``cmd_<name>`` so that ``minidl --help`` stays fast.

A user error (unknown model, missing data, corrupt checkpoint, ...) is printed as one line on
stderr with exit code 1; ``--traceback`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

USER_ERRORS = (OSError, ValueError, RuntimeError)  # CheckpointError is a ValueError
SHAPES_DEFAULTS = {"shapes_n": 4000, "shapes_test_n": 1000, "shapes_size": 32}
DATA_KEYS = ("data", "data_dir", "val_split", "shapes_n", "shapes_test_n", "shapes_size")


# ----------------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run the ``minidl`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"minidl {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if args.traceback:
            raise
        message = " ".join(str(error).split())  # one line, whatever the exception held
        print(f"minidl {args.command}: error: {message}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minidl", description="Train, evaluate and inspect minidl models.")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error instead of one line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def _add_data_options(parser, defaults_from: str | None = None) -> None:
    """--data and its companions; ``defaults_from`` names where unset values come from."""
    def default(value):
        return f" (default: as in {defaults_from})" if defaults_from else f" (default: {value})"

    parser.add_argument("--data", default=None, metavar="DATA",
                        help="shapes, mnist, fashion-mnist, cifar10 or folder:PATH (a folder of "
                        "class sub-folders, or with train/ and val/ or test/ inside)"
                        + default("shapes"))
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the data files" + default("$MINIDL_DATA_DIR/<name>"))
    parser.add_argument("--val-split", type=_fraction, default=None, metavar="F",
                        help="evaluate on the last fraction F of the training split (or of the "
                        "only split there is), train on the rest; 0: evaluate on the test split"
                        + default(0))
    parser.add_argument("--shapes-n", type=int, default=None,
                        help="shapes: training images" + default(SHAPES_DEFAULTS["shapes_n"]))
    parser.add_argument("--shapes-test-n", type=int, default=None,
                        help="shapes: test images" + default(SHAPES_DEFAULTS["shapes_test_n"]))
    parser.add_argument("--shapes-size", type=int, default=None,
                        help="shapes: image size in pixels" + default(SHAPES_DEFAULTS["shapes_size"]))


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and less than 1, got {text}")
    return value


def _add_device_options(parser) -> None:
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--kernels", choices=["auto", "reference", "numba"], default="auto",
                        help="kernel implementations (default: auto, the fastest measured)")


# ----------------------------------------------------------------------------- train
def add_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a zoo model on a data set",
        description="Train a model of the zoo; write metrics.jsonl, curve.png and "
        "checkpoint.ckpt into the run folder after every epoch.")
    p.add_argument("model", help="a model name (see `minidl models`)")
    _add_data_options(p)
    p.add_argument("--epochs", type=int, default=10, help="total epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.05 for sgd, 0.001 for adam); the peak rate "
                   "for --schedule onecycle")
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                   help="sgd (with --momentum) or adam (default sgd)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument("--schedule", choices=["none", "step", "cosine", "onecycle"], default="none",
                   help="learning-rate schedule: step (x0.1 every third of the epochs), cosine "
                   "(to 0 at the end), onecycle (per batch) or none (default)")
    p.add_argument("--augment", action="store_true",
                   help="random crops (and horizontal flips, except for digits)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything random (default 0)")
    p.add_argument("--out", default=None, help="run folder (default runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's checkpoint, with the same settings (only "
                   "--epochs may grow, and only without a schedule)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_device_options(p)
    p.set_defaults(run=cmd_train)


# Settings that must not change when a run is resumed (epochs is checked separately).
RESUME_KEYS = ("model", "data", "val_split", "shapes_n", "shapes_test_n", "shapes_size",
               "batch_size", "lr", "optimizer", "momentum", "weight_decay", "schedule",
               "augment", "seed")


def cmd_train(args) -> int:
    import minidl
    from minidl import kernels, models, train
    from minidl.data import presets

    started = time.perf_counter()
    if args.epochs < 1 or args.batch_size < 1:
        raise ValueError("--epochs and --batch-size must be at least 1")
    _fill_data_defaults(args)
    args.lr = args.lr if args.lr is not None else {"sgd": 0.05, "adam": 0.001}[args.optimizer]
    args.out = args.out or os.path.join("runs", f"{args.model}-{presets.data_name(args.data)}")
    if args.data_dir is not None:  # so that `minidl eval` finds it from anywhere
        args.data_dir = os.path.abspath(args.data_dir)
    config = {key: getattr(args, key) for key in RESUME_KEYS + ("epochs", "data_dir")}
    if args.resume:
        _check_resume(args.out, config)
    input_size = models.input_size(args.model)  # an unknown model fails here, before any work
    minidl.manual_seed(args.seed)
    data = load_data(args, input_size, train=True)
    model = models.get(args.model, num_classes=len(data.classes), in_channels=data.channels)
    params, macs = _probe(model, args.model, data.input_shape)
    print(f"{args.model}: {params:,} parameters, {macs / 1e6:.1f} M multiply-adds per image; "
          f"training on {len(data.train)} images, evaluating on {data.eval_name}")
    with kernels.use(args.kernels):
        model.to(args.device)
        train_loader = minidl.data.DataLoader(data.train, args.batch_size, shuffle=True,
                                              prefetch=2, device=args.device)
        eval_loader = minidl.data.DataLoader(data.eval, 256, device=args.device)
        optimizer = _optimizer(model, args)
        scheduler = _scheduler(optimizer, args, len(train_loader))
        meta = {"model": args.model, "model_args": {"num_classes": len(data.classes),
                                                    "in_channels": data.channels},
                "classes": data.classes, "input": data.input, "config": config}
        try:
            history = train.fit(model, optimizer, train_loader, args.epochs, eval_loader, scheduler,
                                out=args.out, resume=args.resume, meta=meta,
                                progress=not args.no_progress)
        except KeyboardInterrupt:
            print(f"interrupted: the finished epochs are saved in {args.out}; continue with the "
                  "same command and --resume", file=sys.stderr)
            return 130
    print(f"test accuracy {history[-1]['val_acc']:.2%} on {data.eval_name}; "
          f"wall time {time.perf_counter() - started:.1f} s; run folder {args.out}")
    return 0


def _check_resume(out: str, config: dict) -> None:
    """Refuse to resume a checkpoint made with different settings."""
    from minidl import checkpoint, train

    path = os.path.join(out, train.CHECKPOINT)
    if not os.path.exists(path):
        return  # fit starts from scratch and says so
    saved = checkpoint.load(path)["meta"]["config"]
    changed = [f"--{key.replace('_', '-')} {saved.get(key)} -> {config[key]}"
               for key in RESUME_KEYS if saved.get(key) != config[key]]
    if config["epochs"] != saved["epochs"] and config["schedule"] != "none":
        changed.append(f"--epochs {saved['epochs']} -> {config['epochs']} (the {config['schedule']} "
                       "schedule depends on it)")
    if changed:
        raise ValueError(f"cannot resume {path} with different settings: {'; '.join(changed)}")


def _probe(model, name: str, input_shape) -> tuple:
    """(parameters, multiply-adds) of one image; also checks that the model takes the images."""
    from minidl import models

    try:
        return models.complexity(model, input_shape)
    except (ValueError, RuntimeError) as error:
        shape = "x".join(map(str, input_shape))
        raise ValueError(f"model {name} cannot take {shape} images: {error}") from None


def _optimizer(model, args):
    from minidl import optim

    if args.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    return optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                     weight_decay=args.weight_decay)


def _scheduler(optimizer, args, batches_per_epoch: int):
    from minidl import optim

    if args.schedule == "step":
        return optim.StepLR(optimizer, step_size=max(1, round(args.epochs / 3)), gamma=0.1)
    if args.schedule == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    if args.schedule == "onecycle":
        return optim.OneCycleLR(optimizer, args.lr, epochs=args.epochs,
                                steps_per_epoch=batches_per_epoch)
    return None


# ----------------------------------------------------------------------------- eval
def add_eval(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a checkpoint: accuracy, per-class accuracy, confusion matrix",
        description="Rebuild the model a checkpoint was trained as, evaluate it on a data set "
        "and save the confusion matrix as a PNG.")
    p.add_argument("checkpoint", help="a checkpoint.ckpt written by `minidl train`")
    _add_data_options(p, defaults_from="the checkpoint")
    p.add_argument("--batch-size", type=int, default=256, help="default 256")
    p.add_argument("--out", default=None,
                   help="confusion-matrix PNG (default: confusion.png next to the checkpoint)")
    _add_device_options(p)
    p.set_defaults(run=cmd_eval)


def cmd_eval(args) -> int:
    from minidl import data, kernels, train

    model, dataset, meta, state = load_checkpoint(args)
    with kernels.use(args.kernels):
        model.to(args.device)
        loader = data.DataLoader(dataset.eval, args.batch_size, device=args.device)
        result = train.evaluate(model, loader, progress=True)
    print(f"{meta['model']} after {state['epoch']} epochs: accuracy {result['accuracy']:.2%} "
          f"(loss {result['loss']:.4f}) on {dataset.eval_name}")
    support = result["confusion"].sum(axis=1)
    for name, accuracy, n in zip(meta["classes"], result["per_class_accuracy"], support):
        print(f"  {name:<20} {accuracy:8.2%}  of {n}")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "confusion.png")
    train.plot_confusion(result["confusion"], meta["classes"], out,
                         title=f"{meta['model']}: {result['accuracy']:.2%} on {dataset.eval_name}")
    print(f"confusion matrix: {out}")
    return 0


def load_checkpoint(args) -> tuple:
    """(model, data, meta, state) from ``args.checkpoint``, a file written by ``minidl train``:
    the model it was trained as, with its weights, and its data set for evaluation, loaded with
    the data options in ``args`` (those not given, or absent: as in training)."""
    from minidl import checkpoint, models

    state = checkpoint.load(args.checkpoint)
    meta = state.get("meta") if isinstance(state, dict) else None
    if not meta or not {"model", "model_args", "classes", "input", "config"} <= set(meta):
        raise ValueError(f"{args.checkpoint}: no description of the model in it (only checkpoints "
                         "written by `minidl train` can be used)")
    for key in DATA_KEYS:
        if getattr(args, key, None) is None:
            setattr(args, key, meta["config"][key])
    model = models.get(meta["model"], **meta["model_args"])
    model.load_state_dict(state["model"])
    dataset = load_data(args, models.input_size(meta["model"]), train=False, input=meta["input"])
    return model, dataset, meta, state


# ----------------------------------------------------------------------------- models
def add_models(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list the zoo with parameters and multiply-adds",
        description="Print every zoo model (or the NAMEs given) with its parameters and "
        "multiply-adds for one image of its canonical input size, and plot one against the "
        "other.")
    p.add_argument("names", nargs="*", metavar="NAME", help="models to list (default: all)")
    p.add_argument("--out", default="model_complexity.png",
                   help="scatter plot PNG (default model_complexity.png)")
    p.set_defaults(run=cmd_models)


def cmd_models(args) -> int:
    from minidl import models

    rows = []
    print(f"{'model':<20} {'input':>11} {'parameters':>13} {'multiply-adds':>15}")
    for name in args.names or models.names():
        shape = models.input_size(name)
        params, macs = models.complexity(models.get(name), shape)
        rows.append((name, params, macs))
        print(f"{name:<20} {'x'.join(map(str, shape)):>11} {params:>13,} {macs:>15,}", flush=True)
    plot_complexity(rows, args.out)
    print(f"chart: {args.out}")
    return 0


def plot_complexity(rows, path: str) -> None:
    """Scatter of parameters against multiply-adds (log-log), one labelled point per model."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.subplots()
    for name, params, macs in rows:
        ax.scatter(macs / 1e9, params / 1e6, s=25)
        ax.annotate(name, (macs / 1e9, params / 1e6), xytext=(4, 3), textcoords="offset points",
                    fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel="multiply-adds per image (G)",
           ylabel="parameters (M)", title="model complexity at the canonical input size")
    ax.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=100)


# ----------------------------------------------------------------------------- bench
def add_bench(subparsers) -> None:
    from minidl import bench
    p = subparsers.add_parser(
        "bench", help="time the kernels and training steps against PyTorch",
        description="Time every kernel implementation of conv, pooling, batch norm, dropout "
        "and LRN on real layer shapes, and whole training steps, against PyTorch; write "
        "RESULTS.md and a chart.")
    bench.add_arguments(p)
    p.set_defaults(run=cmd_bench)


def cmd_bench(args) -> int:
    from minidl import bench
    return bench.run_from_args(args)


# ----------------------------------------------------------------------------- demo
# How `minidl demo` trains (with `minidl train`'s SGD, momentum 0.9): small_cnn reaches about
# 99% on the Shapes test set in 12 epochs, a few seconds each on two CPU cores.
DEMO_MODEL, DEMO_EPOCHS, DEMO_TRAINING = "small_cnn", 12, ["--schedule", "onecycle", "--lr", "0.1"]
QUICK_SHAPES = ["--shapes-n", "256", "--shapes-test-n", "64"]


def add_demo(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train a small CNN and build the visualization gallery",
        description="Train a model as `minidl train` would (default: small_cnn on the built-in "
        "Shapes, about a minute on two CPU cores), save its run folder (checkpoint.ckpt, "
        "metrics.jsonl, curve.png) in OUT, then run every visualization method on it and write "
        "OUT/index.html, a static page with one PNG per figure. With --checkpoint, build the "
        "gallery of a model trained before (its data options default to the checkpoint's).")
    p.add_argument("--model", default=None, help=f"zoo model to train (default {DEMO_MODEL})")
    _add_data_options(p)
    p.add_argument("--checkpoint", default=None,
                   help="a checkpoint.ckpt written by `minidl train`: no training")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {DEMO_EPOCHS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the training (default 0)")
    p.add_argument("--out", default="minidl-gallery",
                   help="output folder (default minidl-gallery)")
    p.add_argument("--quick", action="store_true",
                   help="tiny Shapes sets and step counts: runs the whole pipeline in seconds, "
                   "with poor pictures (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    from minidl import gallery, kernels, train

    started = time.perf_counter()
    if args.checkpoint is None:
        argv = _demo_training(args)
        print("training: minidl " + " ".join(argv))
        code = cmd_train(build_parser().parse_args(argv))
        if code:
            return code
        args.checkpoint = os.path.join(args.out, train.CHECKPOINT)
        notes = [f"trained by: minidl {' '.join(argv)} ({time.perf_counter() - started:.0f} s)"]
    elif args.model is not None or args.epochs is not None:
        raise ValueError("--model and --epochs say what to train; with --checkpoint the "
                         "checkpoint says what the model is")
    else:
        notes = []
    model, data, meta, state = load_checkpoint(args)
    notes.append(f"checkpoint: {os.path.abspath(args.checkpoint)} (epoch {state['epoch']})")
    settings = gallery.Settings.quick() if args.quick else gallery.Settings()
    with kernels.use("auto"):
        path = gallery.build_gallery(model, data, args.out, name=meta["model"], settings=settings,
                                     notes=notes, started=started, progress=not args.no_progress)
    print(f"gallery: {path} ({time.perf_counter() - started:.0f} s in all)")
    return 0


def _demo_training(args) -> list:
    """The ``minidl train`` arguments that train the demo's model into ``args.out``."""
    argv = ["train", args.model or DEMO_MODEL, "--epochs", str(args.epochs or DEMO_EPOCHS),
            "--seed", str(args.seed), "--out", args.out, *DEMO_TRAINING]
    if args.quick:
        argv += QUICK_SHAPES
    for key in DATA_KEYS:  # the data options given (later options win)
        if getattr(args, key) is not None:
            argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    return argv + ["--no-progress"] * args.no_progress


# ----------------------------------------------------------------------------- viz
def add_viz(subparsers) -> None:
    from minidl.gallery import ONE_IMAGE

    p = subparsers.add_parser(
        "viz", help="run one visualization method on one image",
        description="Rebuild the model of a checkpoint written by `minidl train`, run one "
        "visualization method on one image and save its figure. METHOD is one of: "
        + ", ".join(ONE_IMAGE) + ".")
    p.add_argument("method", metavar="METHOD", help="the method (see above)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint.ckpt written by `minidl train`")
    p.add_argument("--image", default=None,
                   help="an image file (PNG or JPEG; converted to the model's channels and "
                   "resized to its input size) or index:N, the N-th evaluation image of the "
                   "checkpoint's data")
    p.add_argument("--target", type=int, default=None,
                   help="class index: the class explained (default: the predicted one); for "
                   "attacks the label attacked (default: the predicted one); for fooling the "
                   "class to reach (default: the next one)")
    p.add_argument("--layer", default=None,
                   help="layer name, for the methods that read one (default: the last "
                   "convolutional stage, the middle one for deepdream and inversion)")
    p.add_argument("--out", default=None, help="figure PNG (default METHOD.png)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the data files (default: as in the checkpoint)")
    p.set_defaults(run=cmd_viz)


def cmd_viz(args) -> int:
    from minidl import gallery, kernels

    for option in ("checkpoint", "image"):
        if getattr(args, option) is None:
            raise ValueError(f"--{option} is needed (see minidl viz --help)")
    model, data, meta, _ = load_checkpoint(args)
    subject = gallery.Subject(model, data.input, data.input_shape, meta["classes"])
    image = _viz_image(args.image, data)
    with kernels.use("auto"):
        figure = gallery.explain(subject, args.method, image, args.target, args.layer)
    out = args.out or f"{gallery.slug(args.method)}.png"
    figure.savefig(out, dpi=100)
    print(f"{args.method} of {args.image} ({subject.describe(image)}): {out}")
    return 0


def _viz_image(spec: str, data):
    """The image ``spec`` names, (C, H, W) with pixels in [0, 1] at the model's input size:
    ``index:N`` (the N-th evaluation image) or an image file."""
    from minidl.data.folder import load_image
    from minidl.gallery import pixel_images

    if spec.startswith("index:"):
        index = int(spec[len("index:"):]) if spec[len("index:"):].isdigit() else -1
        if not 0 <= index < len(data.eval):
            raise ValueError(f"--image {spec}: expected index:N with N from 0 to {len(data.eval) - 1}")
        return pixel_images(data, [index])[0][0]
    channels, height, width = data.input_shape
    try:
        return load_image(spec, (height, width), grayscale=channels == 1)
    except OSError as error:  # a missing file, or one Pillow cannot read
        raise ValueError(f"--image {spec}: cannot read it as an image ({error})") from None


SUBCOMMANDS = [add_train, add_eval, add_models, add_bench, add_demo, add_viz]


# ----------------------------------------------------------------------------- data
def _fill_data_defaults(args) -> None:
    for key, value in {"data": "shapes", **SHAPES_DEFAULTS}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def load_data(args, model_input, train: bool, input=None):
    """``minidl.data.presets.load`` with the data options in ``args``."""
    from minidl.data import presets

    _fill_data_defaults(args)
    return presets.load(args.data, model_input, data_dir=args.data_dir,
                        val_split=args.val_split, train=train,
                        augment=getattr(args, "augment", False), input=input,
                        shapes_n=args.shapes_n, shapes_test_n=args.shapes_test_n,
                        shapes_size=args.shapes_size)


if __name__ == "__main__":
    sys.exit(main())
