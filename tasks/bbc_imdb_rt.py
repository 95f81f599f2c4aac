"""Text: BBC News topics, then IMDB sentiment, then Rotten Tomatoes sentiment, on a pretrained
transformer (all-MiniLM-L6-v2, LayerNorm: no running statistics to drift, only weights forget).

Why this order: the first task is served mostly by what the encoder knows already (heads on the
frozen encoder reach 97.6% on BBC News, results/text.md), so its forgetting measures how much later
fine-tuning overwrites pretrained knowledge; the two sentiment tasks are where the encoder would
have to learn (frozen: 69.4% IMDB, 75.9% Rotten Tomatoes; fine-tuning adds a few points at 64
tokens), and the third is a domain shift of the second (long
reviews, then one-sentence snippets). Texts are cut at 64 tokens: a Rotten Tomatoes snippet fits
whole, an IMDB review keeps its first 50 words or so.
"""

from clbench.streams import StreamSpec, TaskSpec

# 250 training texts a class (225 after validation), batch 64, 3 epochs: 54 steps on BBC News, 24 on each
# sentiment task;
# a mask every 10 steps is 2-6 masks a task.
NANOADAM = {"mask_interval": 10}

STREAM = StreamSpec(
    name="bbc_imdb_rt",
    description="text: BBC News topics, IMDB then Rotten Tomatoes sentiment (PyPI packages, offline); "
                "250/85 per class, 64 tokens, all-MiniLM-L6-v2",
    tasks=(TaskSpec("bbc_news"), TaskSpec("imdb"), TaskSpec("rotten_tomatoes")),
    max_tokens=64,
    train_per_class=250,
    test_per_class=85,
    strategy_settings={"nanoadam": NANOADAM},
    backbone="all_minilm_l6_v2",
)
