#!/usr/bin/env python3
"""Reference embeddings for quantlab-model's fp32 check (issue #7).

Embeds the first 20 lines of experiments/corpus/sentences.txt with the
Python sentence-transformers package (an implementation independent of
quantlab's candle path) from data/minilm, and writes them, L2-normalised,
as float32 (20, 384) to crates/model/tests/fixtures/minilm-reference-20.npy.

Run once, by hand; the fixture is committed and the Rust test compares
against it (cosine >= 0.9999 per sentence) when data/minilm is present:

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/st/bin/python scripts/reference-embeddings.py
"""
import os
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
model_dir = os.path.join(root, "data", "minilm")
if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
    sys.exit("data/minilm is missing: run scripts/fetch-minilm.sh first")
with open(os.path.join(root, "experiments", "corpus", "sentences.txt"), encoding="utf-8") as f:
    sentences = [line.rstrip("\n") for line in f][:20]

model = SentenceTransformer(model_dir, device="cpu")
emb = model.encode(sentences, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
out = os.path.join(root, "crates", "model", "tests", "fixtures", "minilm-reference-20.npy")
np.save(out, emb.astype(np.float32))
print(f"{out}: {emb.shape}, first values {emb[0, :4]}")
