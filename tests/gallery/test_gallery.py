"""The gallery (``minidl.gallery``), ``minidl demo`` and ``minidl viz``, and the zoo's small CNN.

The gallery tests run with ``Settings.quick()`` (tiny step counts) on models trained for one
epoch on a few hundred images: they check that every method runs and lands on the page, not
what the pictures show (the viz tests check the methods themselves).
"""
import os
import re

import numpy as np
import pytest
from PIL import Image

import minidl
from tests.helpers import MNIST_DIR
from minidl import checkpoint, cli, gallery, models, train
from minidl.data import DataLoader, presets

PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def page_sections(folder):
    """{section id: [image files]} of ``folder/index.html``, in the page's order, and its text."""
    text = (folder / "index.html").read_text(encoding="utf-8")
    sections = re.findall(r'<section id="([^"]+)">(.*?)</section>', text, re.S)
    return {key: re.findall(r'<img src="([^"]+)"', body) for key, body in sections}, text


def assert_complete_gallery(folder):
    """Every method has its section, in order, with at least one PNG that exists, a time and
    no error; returns the page's text."""
    sections, text = page_sections(folder)
    assert list(sections) == [gallery.slug(method.key) for method in gallery.METHODS]
    for key, images in sections.items():
        assert images, f"section {key} has no figure"
        for name in images:
            assert (folder / name).read_bytes()[:8] == PNG
    assert 'class="error"' not in text
    assert len(re.findall(r'<p class="meta">\d+\.\d s</p>', text)) == len(gallery.METHODS)
    return text


# ----------------------------------------------------------------------------- small_cnn
def test_small_cnn_parameters_and_shapes():
    model = models.get("small_cnn")
    assert models.input_size("small_cnn") == (3, 32, 32)
    # convolutions 3*16*9 + 16, 16*32*9 + 32, 32*32*9 + 32; batch norms 2*(16 + 32 + 32);
    # linear 32*10 + 10
    assert models.count_parameters(model) == 14_826
    assert models.count_parameters(models.small_cnn(num_classes=8, in_channels=1, width=8)) == \
        (1 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + 2 * (8 + 16 + 16) + 16 * 8 + 8
    with minidl.no_grad():
        assert model.eval()(minidl.zeros(2, 3, 32, 32)).shape == (2, 10)
        assert models.small_cnn(5, 1).eval()(minidl.zeros(1, 1, 28, 28)).shape == (1, 5)


@pytest.mark.parametrize("name, stages, cam, features", [
    ("small_cnn", ["2", "6", "10"], "10", "12"),
    ("lenet5_modern", ["c1_act", "c3_act"], "c3_act", "f6_act"),
    ("resnet20", ["layer1", "layer2", "layer3"], "layer3", "avgpool"),
])
def test_layers_are_chosen_from_the_traced_forward_pass(name, stages, cam, features):
    model = models.get(name).eval()
    layers = gallery.find_layers(model, models.input_size(name))
    assert (layers.stages, layers.cam, layers.features) == (stages, cam, features)
    assert layers.first_conv == next(n for n, m in model.named_modules()
                                     if isinstance(m, minidl.nn.Conv2d))


# ----------------------------------------------------------------------------- the gallery
@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="the MNIST test set is not there")
def test_gallery_of_a_grayscale_lenet_on_mnist(tmp_path):
    minidl.manual_seed(0)
    data = presets.load("mnist", (1, 32, 32), data_dir=MNIST_DIR, val_split=0.1)
    model = models.lenet5_modern()
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train.fit(model, optimizer, DataLoader(data.train, 64, shuffle=True), 1, progress=False,
              log=None)
    path = gallery.build_gallery(model, data, tmp_path, name="lenet5_modern",
                                 settings=gallery.Settings.quick(), progress=False)
    assert path == os.path.join(tmp_path, "index.html")
    text = assert_complete_gallery(tmp_path)
    accuracy = re.search(r"test accuracy <b>([\d.]+)%</b>", text).group(1)
    assert float(accuracy) > 80  # one epoch of LeNet-5 on 9,000 digits
    assert "lenet5_modern" in text and "the last 1000 images of the mnist test split" in text


# ----------------------------------------------------------------------------- minidl demo
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``minidl demo --quick``: (exit code, stdout, output folder)."""
    out = tmp_path_factory.mktemp("demo") / "gallery"
    code = cli.main(["demo", "--quick", "--epochs", "1", "--no-progress", "--out", str(out)])
    return code, out


def test_demo_trains_saves_the_checkpoint_and_builds_the_gallery(demo):
    code, out = demo
    assert code == 0
    text = assert_complete_gallery(out)
    state = checkpoint.load(out / "checkpoint.ckpt")
    assert state["meta"]["model"] == "small_cnn" and state["epoch"] == 1
    assert state["meta"]["config"]["shapes_n"] == 256  # --quick
    assert re.search(r"test accuracy <b>[\d.]+%</b>", text)
    assert re.search(r"total time <b>\d+ s</b>", text) and "small_cnn" in text
    assert "trained by: minidl train small_cnn --epochs 1" in text


def test_demo_from_a_checkpoint(demo, capsys, tmp_path):
    _, out = demo
    code, stdout, _ = run_cli(capsys, "demo", "--checkpoint", out / "checkpoint.ckpt", "--quick",
                              "--no-progress", "--out", tmp_path)
    assert code == 0 and "gallery:" in stdout
    assert_complete_gallery(tmp_path)
    assert not (tmp_path / "checkpoint.ckpt").exists()  # nothing trained


# ----------------------------------------------------------------------------- minidl viz
@pytest.mark.parametrize("method", ["gradcam", "saliency", "fgsm"])
def test_viz_on_an_evaluation_image(demo, capsys, tmp_path, method):
    _, out = demo
    figure = tmp_path / f"{method}.png"
    code, stdout, _ = run_cli(capsys, "viz", method, "--checkpoint", out / "checkpoint.ckpt",
                              "--image", "index:3", "--out", figure)
    assert code == 0 and str(figure) in stdout
    assert figure.read_bytes()[:8] == PNG


def test_viz_on_an_image_file_with_a_target_and_a_layer(demo, capsys, tmp_path):
    _, out = demo
    picture = tmp_path / "square.png"
    pixels = np.zeros((40, 48, 3), np.uint8)
    pixels[10:30, 12:32] = (250, 200, 0)
    Image.fromarray(pixels).save(picture)
    figure = tmp_path / "cam.png"
    code, _, _ = run_cli(capsys, "viz", "gradcam++", "--checkpoint", out / "checkpoint.ckpt",
                         "--image", picture, "--target", 1, "--layer", "6", "--out", figure)
    assert code == 0 and figure.read_bytes()[:8] == PNG


@pytest.mark.parametrize("argv, message", [
    (["viz", "no-such-method", "--image", "index:0"], "unknown method 'no-such-method'"),
    (["viz", "gradcam", "--image", "index:99999"], "expected index:N with N from 0 to 63"),
    (["viz", "gradcam", "--image", "index:0", "--layer", "nope"], "no layer named 'nope'"),
    (["viz", "saliency", "--image", "index:0", "--layer", "6"], "saliency reads no layer"),
    (["viz", "gradcam", "--image", "index:0", "--target", "8"], "target 8 is not a class index"),
    (["demo", "--model", "resnet20"], "with --checkpoint the checkpoint says"),
])
def test_user_errors_are_one_line(demo, capsys, argv, message):
    _, out = demo
    code, _, err = run_cli(capsys, *argv, "--checkpoint", out / "checkpoint.ckpt")
    assert code == 1
    assert err.count("\n") == 1 and message in err and err.startswith(f"minidl {argv[0]}: error:")


def test_missing_checkpoint_and_bad_image_are_one_line(capsys, tmp_path, demo):
    code, _, err = run_cli(capsys, "viz", "gradcam", "--checkpoint", tmp_path / "none.ckpt",
                           "--image", "index:0")
    assert code == 1 and err.count("\n") == 1 and "no such checkpoint file" in err
    code, _, err = run_cli(capsys, "viz", "gradcam", "--image", "index:0")
    assert code == 1 and err.count("\n") == 1 and "--checkpoint is needed" in err
    (tmp_path / "notes.png").write_text("not an image")
    code, _, err = run_cli(capsys, "viz", "gradcam", "--checkpoint", demo[1] / "checkpoint.ckpt",
                           "--image", tmp_path / "notes.png")
    assert code == 1 and err.count("\n") == 1 and "cannot read it as an image" in err


@pytest.mark.parametrize("command", ["demo", "viz"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: minidl {command}" in capsys.readouterr().out
