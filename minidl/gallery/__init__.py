"""The gallery: every visualization method of ``minidl.viz`` run on one trained model, written
as a static web page (``index.html`` and one PNG per figure) that explains each method.

    from minidl import gallery
    gallery.build_gallery(model, data, "minidl-gallery")     # data: minidl.data.presets.load(...)

``minidl demo`` trains a model and builds its gallery; ``minidl viz`` runs one method on one
image (both in ``minidl.cli``).

The methods run on the model with the data's normalisation put in front of it as a layer
(``Standardize``), so that they see images with pixels in [0, 1]: synthesised images start
from grey, pixel clipping is to [0, 1], and attack budgets (epsilon) are in pixel units.
The layers are chosen from one traced forward pass (``find_layers``), so any convolutional
network of the zoo works: the filters of the first convolution, the last layer of each
resolution ("stages"), the last stage with more than one unit per map for the class
activation maps, and the input of the last linear layer for the embeddings.
"""
from .figures import ONE_IMAGE, default_layer, explain
from .page import build_gallery, slug
from .sections import METHODS
from .settings import DEFAULT_OUT, EPSILONS, Settings
from .tracing import Standardize, Subject, find_layers, pixel_images

__all__ = ["DEFAULT_OUT", "EPSILONS", "METHODS", "ONE_IMAGE", "Settings", "Standardize", "Subject",
           "build_gallery", "default_layer", "explain", "find_layers", "pixel_images", "slug"]
