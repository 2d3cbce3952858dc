"""The model zoo: classic CNNs from LeNet-5 to EfficientNet, one file per family, and a
small CNN for the visualization gallery (``small_cnn``).

    import minidl.models as models
    models.names()                               # every registered model
    net = models.get("resnet18", num_classes=10) # or models.resnet18(num_classes=10)
    params, macs = models.complexity(net, models.input_size("resnet18"))

Every constructor takes ``num_classes`` and ``in_channels``. Where torchvision has the model,
parameter names and shapes match its, so a torchvision ``state_dict`` converted to NumPy
arrays (``minidl.io.load_torch_state_dict``) loads with ``load_state_dict(strict=True)``.
"""
from ._registry import get, input_size, names
from .alexnet import alexnet, alexnet_paper, zfnet
from .complexity import complexity, count_parameters
from .densenet import densenet121
from .efficientnet import efficientnet_b0
from .googlenet import googlenet
from .inception_v3 import inception_v3
from .inception_v4 import inception_resnet_v2, inception_v4
from .lenet import lenet5, lenet5_modern
from .mobilenet import mobilenet_v1, mobilenet_v2
from .nas_cells import amoebanet_a_mobile, draw_cell, nasnet_a_mobile
from .resnet import (resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56,
                     resnet101, resnet110, resnet152, resnext50_32x4d)
from .senet import se_resnet18, se_resnet50
from .shufflenet import shufflenet_v2_x1_0
from .simple import small_cnn
from .squeezenet import squeezenet1_0
from .vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = ["complexity", "count_parameters", "get", "input_size", "names", "alexnet",
           "alexnet_paper", "amoebanet_a_mobile", "densenet121", "draw_cell", "efficientnet_b0",
           "googlenet", "inception_resnet_v2", "inception_v3", "inception_v4", "lenet5",
           "lenet5_modern", "mobilenet_v1", "mobilenet_v2", "nasnet_a_mobile", "resnet101",
           "resnet110", "resnet152", "resnet18", "resnet20", "resnet32", "resnet34", "resnet44",
           "resnet50", "resnet56", "resnext50_32x4d", "se_resnet18", "se_resnet50",
           "shufflenet_v2_x1_0", "small_cnn", "squeezenet1_0", "vgg11", "vgg11_bn", "vgg13",
           "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "zfnet"]
