"""Images synthesised by gradient ascent on the input: class model visualization, feature
visualization, DeepDream and feature inversion, with the image priors that make the results
look like images (L2 decay, blur, pixel clipping, jitter, total variation).

Every method builds a differentiable objective from minidl tensor ops, takes its gradient
with respect to the pixels with ``minidl.grad`` (the weights get no gradient) and moves the
pixels, through one loop: ``optimize_image``. The priors ``tv_loss``, ``alpha_norm`` and
``gaussian_blur`` are ordinary differentiable functions, usable on their own.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np

import minidl
import minidl.functional as F

from . import plot
from ._util import as_batch, capture, get_module, model_dtype

__all__ = ["Regularizers", "alpha_norm", "class_model_visualization", "deep_dream",
           "feature_visualization", "gaussian_blur", "invert_features", "layer_activations",
           "optimize_image", "plot_deep_dream", "plot_inversion", "plot_visualizations",
           "roll", "tv_loss"]


# --------------------------------------------------------------------------- image priors
def tv_loss(x, beta=2.0):
    """Total variation TV^beta of images (N, C, H, W) or (C, H, W), a tensor
    (Mahendran & Vedaldi, "Understanding deep image representations by inverting them", 2015):

        TV^beta(x) = sum over n, c, i < H-1, j < W-1 of
                     ((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2)^(beta / 2)

    beta = 2 (the default) sums squared differences and is smooth everywhere; for beta < 2 the
    term has a kink where both differences vanish. Returns a scalar tensor.
    """
    x = _tensor(x)
    corner = x[..., :-1, :-1]
    squared = (x[..., :-1, 1:] - corner) ** 2 + (x[..., 1:, :-1] - corner) ** 2
    return squared.sum() if beta == 2 else (squared ** (beta / 2)).sum()


def alpha_norm(x, alpha=6.0):
    """The alpha-norm prior ||x||_alpha^alpha = sum |x|^alpha (Mahendran & Vedaldi 2015): a
    large alpha (6 in the paper) leaves most pixels free and stops a few from growing large.
    Returns a scalar tensor."""
    return (_tensor(x).abs() ** alpha).sum()


def gaussian_blur(image, sigma, truncate=3.0):
    """Blur every channel with a Gaussian of standard deviation ``sigma`` pixels (kernel radius
    ceil(truncate * sigma)), as a normalised convolution:

        blur(x) = (k * x) / (k * 1),   k(d) proportional to exp(-d^2 / (2 sigma^2)), separable,

    where * is the zero-padded convolution, so pixels near the border are averaged over the
    pixels inside the image only (a constant image stays constant). Linear in x, built from
    ``F.conv2d``, hence differentiable. ``image``: (C, H, W) or (N, C, H, W), an array (returns
    an array) or a tensor (returns a tensor).
    """
    x = _tensor(image)
    batch = x if x.ndim == 4 else x.unsqueeze(0)
    radius = max(1, math.ceil(truncate * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2.0 * sigma ** 2))
    taps = (taps / taps.sum()).astype(batch.dtype)
    ones = minidl.tensor(np.ones((1, 1) + batch.shape[2:], batch.dtype))
    blurred = _separable(batch, taps) / _separable(ones, taps)
    blurred = blurred if x.ndim == 4 else blurred.squeeze(0)
    return blurred if isinstance(image, minidl.Tensor) else blurred.numpy()


def _separable(x, taps):
    """Depthwise convolution of (N, C, H, W) with ``taps`` along H, then along W."""
    channels, size, radius = x.shape[1], len(taps), len(taps) // 2
    column = minidl.tensor(np.broadcast_to(taps.reshape(1, 1, size, 1), (channels, 1, size, 1)))
    row = minidl.tensor(np.broadcast_to(taps.reshape(1, 1, 1, size), (channels, 1, 1, size)))
    x = F.conv2d(x, column, padding=(radius, 0), groups=channels)
    return F.conv2d(x, row, padding=(0, radius), groups=channels)


def roll(x, shift_y, shift_x):
    """The images (..., H, W) shifted cyclically by (shift_y, shift_x) pixels, like
    ``np.roll``; made of slices and a concatenation, so the gradient is rolled back."""
    for axis, shift in ((-2, shift_y), (-1, shift_x)):
        shift %= x.shape[axis]
        if shift:
            index = [slice(None)] * x.ndim
            head, tail = list(index), list(index)
            head[axis], tail[axis] = slice(-shift, None), slice(None, -shift)
            x = minidl.concatenate([x[tuple(head)], x[tuple(tail)]], axis=x.ndim + axis)
    return x


def _tensor(x):
    return x if isinstance(x, minidl.Tensor) else minidl.tensor(np.asarray(x))


# --------------------------------------------------------------------------- the loop
def optimize_image(loss_fn, image, steps, lr, optimizer="adam", after_step=None):
    """Minimise ``loss_fn(x)`` over the pixels of x, starting from ``image`` (N, C, H, W).

    ``loss_fn`` maps the tensor x to a scalar tensor; ``g = minidl.grad(loss, x)`` and

    * ``"sgd"``: x <- x - lr g (plain gradient descent);
    * ``"normalized"``: x <- x - lr g / mean|g| (DeepDream's step, independent of the scale
      of the loss);
    * ``"adam"``: Adam on the pixels (``minidl.optim.Adam``).

    ``after_step(x, g, step)`` may then change the array x in place (projections, blurs).
    Returns the final image (an array like ``image``) and the loss before each step.
    """
    if optimizer not in ("sgd", "normalized", "adam"):
        raise ValueError(f"optimizer must be 'sgd', 'normalized' or 'adam', got {optimizer!r}")
    x = minidl.tensor(np.array(image), requires_grad=True)
    adam = minidl.optim.Adam([x], lr=lr) if optimizer == "adam" else None
    history = np.empty(steps)
    for step in range(steps):
        loss = loss_fn(x)
        g = minidl.grad(loss, x)
        history[step] = loss.item()
        if adam is not None:
            x.grad = g
            adam.step()
        elif optimizer == "normalized":
            x.data -= lr * g / (np.abs(g).mean() + 1e-12)
        else:
            x.data -= lr * g
        if after_step is not None:
            after_step(x.data, g, step)
    return x.numpy(), history


def layer_activations(model, layers, x):
    """The outputs (tensors, in the graph) of ``layers`` (modules or dotted names) when the
    model runs on x, read through forward hooks."""
    with contextlib.ExitStack() as stack:
        seen = [stack.enter_context(capture(get_module(model, layer))) for layer in layers]
        model(x)
    return [s[-1] for s in seen]


# --------------------------------------------------------------------------- activation maximisation
@dataclasses.dataclass(frozen=True)
class Regularizers:
    """The image priors of activation maximisation, all off by default.

    * ``l2``: the penalty l2 * ||I||^2 subtracted from the objective (Simonyan et al. 2014);
    * ``decay``: I <- (1 - decay) I after each step (Yosinski et al. 2015); with plain
      gradient ascent at step lr this is, to first order in decay, l2 = decay / (2 lr);
    * ``tv``, ``tv_beta``: the penalty tv * TV^beta(I) (``tv_loss``; Mahendran & Vedaldi 2015);
    * ``jitter``: every step evaluates the objective on the image rolled by a random shift
      of up to ``jitter`` pixels per axis (Mordvintsev et al. 2015), so that no single
      pixel alignment is exploited;
    * ``blur_every``, ``blur_sigma``: every ``blur_every`` steps, I <- gaussian_blur(I, sigma)
      (Yosinski et al. 2015), which removes high frequencies;
    * ``norm_percentile``: after each step, the pixels whose norm over the channels is below
      this percentile (0 to 100) are set to 0 (Yosinski et al.: clipping pixels with small norm);
    * ``contribution_percentile``: after each step, the pixels whose contribution
      |sum_c I_c dJ/dI_c| (the first-order change of the regularised objective J when the
      pixel is set to 0) is below this percentile are set to 0 (Yosinski et al.).
    """

    l2: float = 0.0
    decay: float = 0.0
    tv: float = 0.0
    tv_beta: float = 2.0
    jitter: int = 0
    blur_every: int = 0
    blur_sigma: float = 0.5
    norm_percentile: float = 0.0
    contribution_percentile: float = 0.0

    def penalty(self, x):
        """l2 ||x||^2 + tv TV^beta(x): the differentiable part of the priors (a scalar tensor)."""
        total = 0.0
        if self.l2:
            total = total + self.l2 * (x * x).sum()
        if self.tv:
            total = total + self.tv * tv_loss(x, self.tv_beta)
        return total

    def project(self, x, g, step):
        """The priors that act on the pixels after a step, in place on the array x (N, C, H, W);
        g is the gradient of the loss (minus the regularised objective)."""
        if self.decay:
            x *= 1 - self.decay
        if self.blur_every and (step + 1) % self.blur_every == 0:
            x[...] = gaussian_blur(x, self.blur_sigma)
        if self.norm_percentile:
            _zero_smallest(x, np.sqrt((x * x).sum(axis=1)), self.norm_percentile)
        if self.contribution_percentile:
            _zero_smallest(x, np.abs((x * g).sum(axis=1)), self.contribution_percentile)


def _zero_smallest(x, score, percentile):
    """Set to 0 the pixels of x (N, C, H, W) whose score (N, H, W) is below its percentile."""
    low = np.percentile(score.reshape(len(score), -1), percentile, axis=1)
    x *= (score >= low[:, None, None])[:, None]


def _maximize(model, objective, shape, steps, lr, optimizer, init, init_std, restarts, seed,
              regularizers):
    """Gradient ascent on objective(x) - penalty(x) from ``restarts`` random starts; the image
    whose final regularised objective is the highest, with its history of that objective."""
    reg = Regularizers(**regularizers)
    best = None
    for restart in range(restarts):
        rng = np.random.default_rng(seed + restart)
        start = (0.0 if init is None else np.asarray(init)) + init_std * rng.standard_normal(shape)
        image, history = optimize_image(_jittered_loss(objective, reg, rng),
                                        as_batch(model, start).numpy(), steps, lr, optimizer,
                                        reg.project)
        with minidl.no_grad():
            final = minidl.tensor(image)
            score = (objective(final) - reg.penalty(final)).item()
        if best is None or score > best[0]:
            best = score, image[0], -history
    return best[1], best[2]


def _jittered_loss(objective, reg, rng):
    """x -> penalty(x) - objective(x rolled by a random shift of up to reg.jitter pixels)."""
    def loss(x):
        shifts = rng.integers(-reg.jitter, reg.jitter + 1, size=2)
        return reg.penalty(x) - objective(roll(x, *shifts))
    return loss


def class_model_visualization(model, target_class, shape, steps=200, lr=1.0, optimizer="sgd",
                              init=None, init_std=0.0, restarts=1, seed=0, **regularizers):
    """The image that maximises the class score (Simonyan, Vedaldi & Zisserman, "Deep inside
    convolutional networks", 2014):

        I* = argmax_I  S_c(I) - l2 ||I||^2  (- the other priors of ``Regularizers``)

    S_c is the unnormalised score (logit) of ``target_class``. Starts from ``init`` (zeros by
    default) plus ``init_std`` Gaussian noise; with ``restarts`` > 1 keeps the best run.
    ``regularizers`` are the fields of ``Regularizers`` (l2, decay, tv, jitter, blur_every, ...).
    For a linear score S_c = w.I + b and plain ascent the maximiser is I* = w / (2 l2).

    Returns the image (C, H, W) and the regularised objective before each step.
    """
    def score(x):
        return model(x)[0, target_class]

    return _maximize(model, score, shape, steps, lr, optimizer, init, init_std, restarts, seed,
                     regularizers)


def feature_visualization(model, layer, channel, shape, position=None, steps=200, lr=0.05,
                          optimizer="adam", init=None, init_std=0.1, restarts=1, seed=0,
                          **regularizers):
    """The image that maximises one neuron or channel of an intermediate layer (Erhan et al.
    2009; Yosinski et al. 2015; Olah et al., "Feature visualization", 2017):

        I* = argmax_I  a(I) - penalties,   a = mean over (h, w) of layer(I)[channel]
                                           or layer(I)[channel, position] (one neuron)

    (for a layer with flat outputs (N, K), ``channel`` is the unit). ``restarts`` random
    starts (``init`` plus ``init_std`` noise, drawn from ``seed + restart``); the best final
    objective wins. Returns the image (C, H, W) and the objective before each step.
    """
    def activation(x):
        a = layer_activations(model, [layer], x)[0][0, channel]
        if position is not None:
            return a[tuple(position)]
        return a if a.ndim == 0 else a.mean()

    return _maximize(model, activation, shape, steps, lr, optimizer, init, init_std, restarts,
                     seed, regularizers)


# --------------------------------------------------------------------------- DeepDream
def deep_dream(model, image, layer, channel=None, steps=10, lr=0.02, octaves=3, octave_scale=1.4,
               jitter=2, value_range=(0.0, 1.0), seed=0):
    """DeepDream (Mordvintsev, Olah & Tyka, "Inceptionism", 2015): amplify whatever the layer
    (or one of its channels) already sees, by normalised gradient ascent on

        J(x) = 1/2 mean(a(x)^2),   x <- clip(x + lr g / mean|g|),  g = dJ/dx at a jittered x

    over ``octaves`` scales: the image is shrunk by ``octave_scale`` per octave, the smallest
    is dreamt first, and the detail added at each scale (dreamt - original) is upsampled
    (bilinear) onto the next larger one. Returns the dreamt image (C, H, W) and J per step.
    """
    rng = np.random.default_rng(seed)
    base = as_batch(model, image).numpy()
    pyramid = [base]
    for level in range(1, octaves):
        size = [max(1, round(n / octave_scale ** level)) for n in base.shape[2:]]
        pyramid.append(_resize(base, size))

    def loss(x):
        a = layer_activations(model, [layer], roll(x, *rng.integers(-jitter, jitter + 1, 2)))[0]
        a = a if channel is None else a[:, channel]
        return -0.5 * (a * a).mean()

    def clip(x, g, step):
        if value_range is not None:
            np.clip(x, *value_range, out=x)

    detail, histories = np.zeros_like(pyramid[-1]), []
    for octave_base in reversed(pyramid):
        start = octave_base + _resize(detail, octave_base.shape[2:])
        dreamt, history = optimize_image(loss, start, steps, lr, "normalized", clip)
        detail = dreamt - octave_base
        histories.append(-history)
    return dreamt[0], np.concatenate(histories)


def _resize(images, size):
    """Bilinear resize of an array (N, C, H, W) to ``size`` (H', W')."""
    if tuple(images.shape[2:]) == tuple(size):
        return images
    with minidl.no_grad():
        return F.interpolate(minidl.tensor(images), size=tuple(size), mode="bilinear").numpy()


# --------------------------------------------------------------------------- inversion
def invert_features(model, layer, image, steps=200, lr=0.05, alpha=6.0, alpha_weight=1e-3,
                    beta=2.0, tv_weight=1e-2, pixel_range=1.0, init_std=0.1, seed=0):
    """Reconstruct an image from its representation phi0 = phi(x0) at ``layer`` (Mahendran &
    Vedaldi, "Understanding deep image representations by inverting them", 2015):

        x* = argmin_x  ||phi(x) - phi0||^2 / ||phi0||^2
                       + alpha_weight R_alpha(x) / (H W B^alpha) + tv_weight TV^beta(x) / (H W B^beta)

    with R_alpha = ``alpha_norm`` of the mean-subtracted image, TV^beta = ``tv_loss`` and B =
    ``pixel_range`` (the normalisations of the paper make the weights independent of the
    image size and range). Starts from x0's mean plus ``init_std`` noise; Adam on the pixels.
    Returns the reconstruction (C, H, W) and the loss before each step.
    """
    target = as_batch(model, image)
    with minidl.no_grad():
        phi0 = layer_activations(model, [layer], target)[0]
    scale = 1.0 / (phi0 * phi0).sum().item()
    mean = float(target.numpy().mean())
    area = target.shape[2] * target.shape[3]

    def loss(x):
        difference = layer_activations(model, [layer], x)[0] - phi0
        return (scale * (difference * difference).sum()
                + alpha_weight / (area * pixel_range ** alpha) * alpha_norm(x - mean, alpha)
                + tv_weight / (area * pixel_range ** beta) * tv_loss(x, beta))

    rng = np.random.default_rng(seed)
    start = (mean + init_std * rng.standard_normal(target.shape)).astype(model_dtype(model))
    reconstruction, history = optimize_image(loss, start, steps, lr, "adam")
    return reconstruction[0], history


# --------------------------------------------------------------------------- figures
def plot_visualizations(images, titles=None, ncols=8, suptitle=None):
    """A grid of synthesised images (class models, feature visualizations); returns the figure."""
    return plot.image_grid(list(images), titles, ncols=ncols, size=1.6, suptitle=suptitle)


def plot_deep_dream(image, dreamt, history=None):
    """The original and the dreamt image, and the objective per step if given."""
    curves = None if history is None else {"1/2 mean a^2": history}
    return plot.images_with_curves([image, dreamt], ["original", "DeepDream"], curves)


def plot_inversion(image, reconstruction, history=None):
    """The original, its reconstruction from the features and the loss curve if given."""
    curves = None if history is None else {"loss": history}
    return plot.images_with_curves([image, reconstruction], ["original", "reconstruction"],
                                   curves, logy=True)
