"""Running the sections and writing the page: ``build_gallery`` and the HTML."""
from __future__ import annotations

import html
import os
import time
from typing import NamedTuple

from minidl import train, viz
from minidl.data import DataLoader
from minidl.models import count_parameters

from .sections import METHODS, GalleryRun, Method
from .settings import DEFAULT_OUT, Settings
from .tracing import Subject, pixel_images


# ----------------------------------------------------------------------------- the page
class Section(NamedTuple):
    """A method's results on the page: its figures as (file name, caption), the seconds it
    took and an error message if it failed."""

    method: Method
    figures: list
    seconds: float
    error: str | None


def slug(key):
    """The method's name in file names and page anchors ("gradcam++" -> "gradcam-pp")."""
    return key.replace("++", "-pp")


def run_method(method, run, out):
    """Run one section and save its figures as PNGs in ``out``; a failure is recorded, not
    raised, so that one method cannot lose the others."""
    plt = viz.plot.pyplot()
    start = time.perf_counter()
    try:
        results = method.run(run)
    except Exception as error:  # any failure: shown on the page and in the log
        return Section(method, [], time.perf_counter() - start, f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - start
    figures = []
    for k, (figure, caption) in enumerate(results, 1):
        name = f"{slug(method.key)}-{k}.png"
        figure.savefig(os.path.join(out, name), dpi=100)
        plt.close(figure)
        figures.append((name, caption))
    return Section(method, figures, seconds, None)


def build_gallery(model, data, out=DEFAULT_OUT, name=None, settings=None, notes=(), started=None,
                  progress=True, log=print):
    """Run every method of ``METHODS`` on a trained ``model`` and write ``<out>/index.html``
    with one PNG per figure; return the page's path.

    ``data`` is a ``minidl.data.presets.Data`` (its evaluation images, classes and
    preprocessing); ``name`` names the model on the page; ``notes`` are extra lines for the
    page's header; the total time counts from ``started`` (a ``time.perf_counter()`` value,
    default: now). Failed methods are reported by ``log`` and on the page.
    """
    from tqdm import tqdm

    gallery_started = time.perf_counter()
    started = gallery_started if started is None else started
    settings = settings or Settings()
    subject = Subject(model, data.input, data.input_shape, data.classes, settings)
    accuracy = train.evaluate(model, DataLoader(data.eval, 256))["accuracy"]
    n = min(len(data.eval), max(settings.samples, settings.attack_samples))
    run = GalleryRun(subject, *pixel_images(data, range(n)))
    os.makedirs(out, exist_ok=True)
    sections = []
    for method in tqdm(METHODS, desc="gallery", disable=not progress, leave=False):
        sections.append(run_method(method, run, out))
        if sections[-1].error:
            log(f"gallery: {method.key} failed: {sections[-1].error}")
    facts = {"model": name or type(model).__name__, "parameters": count_parameters(model),
             "data": data.eval_name, "accuracy": accuracy, "layers": subject.layers,
             "seconds": time.perf_counter() - started,
             "gallery_seconds": time.perf_counter() - gallery_started}
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(facts, sections, notes))
    return path


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1em; }
nav { columns: 3; font-size: 0.9em; margin-bottom: 2em; }
section { border-top: 1px solid #eee; padding-top: 0.5em; margin-top: 1.5em; }
.about { max-width: 50em; }
.meta { color: #666; font-size: 0.85em; }
.error { color: #b00; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.85em; }
"""


def page(facts, sections, notes=()):
    """The gallery's HTML: a header with the facts, a table of contents and the sections."""
    e = html.escape
    layers = facts["layers"]
    lines = [f"model <b>{e(facts['model'])}</b> ({facts['parameters']:,} parameters) on "
             f"<b>{e(facts['data'])}</b>: test accuracy <b>{facts['accuracy']:.2%}</b>",
             f"total time <b>{facts['seconds']:.0f} s</b> (the gallery "
             f"{facts['gallery_seconds']:.0f} s): {len(sections)} methods, "
             f"{sum(len(s.figures) for s in sections)} figures",
             f"layers: first convolution {e(layers.first_conv)}; stages "
             f"{e(', '.join(layers.stages))}; class activation maps at {e(layers.cam)}; "
             f"embeddings from {e(layers.features)}"] + [e(note) for note in notes]
    header = "".join(f"<p>{line}</p>\n" for line in lines)
    toc = "".join(f'<a href="#{slug(s.method.key)}">{e(s.method.title)}</a><br>\n'
                  for s in sections)
    title = f"minidl gallery: {facts['model']}"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<header>\n<h1>{e(title)}</h1>\n{header}</header>\n<nav>\n{toc}</nav>\n"
            + "".join(section_html(s) for s in sections) + "</body>\n</html>\n")


def section_html(section):
    """One method's section: title, explanation, time, figures with captions."""
    e = html.escape
    method = section.method
    figures = "".join(f'<figure><img src="{e(name)}" alt="{e(method.title)}">'
                      f"<figcaption>{e(caption)}</figcaption></figure>\n"
                      for name, caption in section.figures)
    error = f'<p class="error">failed: {e(section.error)}</p>\n' if section.error else ""
    return (f'<section id="{slug(method.key)}">\n<h2>{e(method.title)}</h2>\n'
            f'<p class="about">{e(method.about)}</p>\n'
            f'<p class="meta">{section.seconds:.1f} s</p>\n{error}{figures}</section>\n')
