import timm
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from timm.data import ImageNetInfo

from clbench.backbones import create_backbone, efficientnet_lite0


def test_efficientnet_lite0_weights_recognise_a_real_photo():
    """The position-based mapping of the package's weights is right only if real photos are
    classified correctly: scikit-learn's china.jpg shows the Summer Palace in Beijing."""
    model = efficientnet_lite0().eval()
    config = timm.data.resolve_data_config({}, model=model)
    image = timm.data.create_transform(**config)(Image.fromarray(load_sample_image("china.jpg")))
    with torch.no_grad():
        top1 = int(model(image[None]).argmax())
    assert ImageNetInfo().index_to_description(top1) == "palace"


def test_backbone_has_no_classifier_and_normalisation_from_timm():
    backbone, config = create_backbone("efficientnet_lite0")
    backbone.eval()
    assert backbone(torch.zeros(1, 3, 32, 32)).shape == (1, backbone.num_features)
    assert config["mean"] == (0.5, 0.5, 0.5) and config["std"] == (0.5, 0.5, 0.5)
